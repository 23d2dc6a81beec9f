"""Two CI runners sharing one S3 stage cache (moto's S3 server on loopback), against a runner with only its own.

Each build is the real command line in its own process, with its own local cache and output folder, as on two
CI machines: runner A builds cold and uploads each finished stage; runner B starts empty and downloads; runner C
is a cold build with no remote cache (what every runner pays today). Prints wall times and, per runner, how many
stages ran, were downloaded or uploaded (from the build's own log lines).

    python bench/remote_cache.py [--target x86-cpu-ort]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "samples" / "tweet-sentiment" / "edgeconv.yaml"


def runner(name: str, folder: Path, env: dict[str, str], target: str) -> tuple[float, dict[str, int]]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "edgeconv.cli", "build", str(SPEC), "--target", target, "--out",
                           str(folder / name / "out")], env={**env, "EDGECONV_CACHE_DIR": str(folder / name / "cache")},
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"runner {name} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    marks = {"ran": "✓", "downloaded": "↓", "uploaded": "↑", "remote warnings": "!"}
    lines = proc.stderr.splitlines()
    return wall, {k: sum(line.startswith(m + " ") for line in lines) for k, m in marks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="x86-cpu-ort")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
        import boto3

        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="bench",
                     aws_secret_access_key="bench", region_name="us-east-1").create_bucket(Bucket="edgeconv-cache")
        shared = {**env, "EDGECONV_CACHE_URL": "s3://edgeconv-cache/bench"}
        with tempfile.TemporaryDirectory(prefix="edgeconv-remote-bench-") as tmp:
            a = runner("a", Path(tmp), shared, args.target)
            b = runner("b", Path(tmp), shared, args.target)
            c = runner("c", Path(tmp), env, args.target)
    finally:
        server.terminate()
    print(f"`edgeconv build samples/tweet-sentiment/edgeconv.yaml --target {args.target}`, one process per runner")
    print("| runner | remote cache | wall s | stages run | downloaded | uploaded |\n|---|---|---|---|---|---|")
    for name, (wall, seen), remote in (("A (first)", a, "s3, empty"), ("B (second)", b, "s3, filled by A"),
                                       ("C (alone)", c, "none")):
        print(f"| {name} | {remote} | {wall:.1f} | {seen['ran']} | {seen['downloaded']} | {seen['uploaded']} |")
    print(f"B / C: {b[0] / c[0]:.3f} of a cold build; A / C: {a[0] / c[0]:.2f} (the upload's cost)")


if __name__ == "__main__":
    main()
