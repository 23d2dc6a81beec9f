#!/usr/bin/env bash
# Installs Debian's OpenSSH server for tests/remote (the tests start their own sshd on 127.0.0.1 with
# throw-away keys and their own config; nothing here enables or starts the system service).
set -euo pipefail
if command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ]; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends openssh-server openssh-client
# Debian's postinst may start the system sshd on port 22; the tests do not need it.
$SUDO service ssh stop >/dev/null 2>&1 || true
