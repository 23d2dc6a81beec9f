"""A real OpenSSH server on 127.0.0.1 for the remote tests: throw-away host and user keys, its own config.

Needs Debian's openssh-server (tests/setup_debian.sh installs it); tests skip without it.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)
KEYGEN = shutil.which("ssh-keygen")
MISSING = None if (SSHD and KEYGEN) else "OpenSSH server not installed (run tests/setup_debian.sh)"


def keygen(path: Path) -> Path:
    subprocess.run([KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", "edgeconv-test", "-f", str(path)], check=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    folder: Path
    port: int
    user: str
    host_key: Path
    user_key: Path
    known_hosts: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        if os.geteuid() == 0:  # sshd run as root insists on its privilege-separation folder
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        config = self.folder / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.folder / 'authorized_keys'}", f"PidFile {self.folder / 'sshd.pid'}",
            "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes", "StrictModes no", "UsePAM no", "Subsystem sftp internal-sftp",
            "LogLevel ERROR", "",
        ]))
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=(self.folder / "sshd.log").open("ab"), start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.folder / 'sshd.log').read_text()[-500:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def sessions(self) -> list[psutil.Process]:
        """The per-connection sshd processes and what they run (not the listener)."""
        return psutil.Process(self.proc.pid).children(recursive=True) if self.proc else []

    def drop_connections(self) -> None:
        """Kill every session (the link drops) but keep listening."""
        for p in self.sessions():
            p.kill()

    def kill(self) -> None:
        """The server dies: sessions and listener."""
        if self.proc and self.proc.poll() is None:
            procs = [psutil.Process(self.proc.pid), *self.sessions()]
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.kill()


def make_sshd(folder: Path) -> Sshd:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    host_key = keygen(folder / "host_ed25519")
    user_key = keygen(folder / "user_ed25519")
    (folder / "authorized_keys").write_text((folder / "user_ed25519.pub").read_text())
    port = free_port()
    known = folder / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {(folder / 'host_ed25519.pub').read_text().split(' ', 2)[0]} "
                     f"{(folder / 'host_ed25519.pub').read_text().split(' ', 2)[1]}\n")
    server = Sshd(folder, port, getpass.getuser(), host_key, user_key, known)
    server.start()
    return server
