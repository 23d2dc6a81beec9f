#!/usr/bin/env bash
# Release job: build and verify, bundle each target's chosen artifact (with run.py, its requirements,
# the preprocessing files and a golden set), and verify every bundle's hashes before it is published
# or flashed (on the board: pip install -r requirements.txt && python run.py --check). Stops at the
# first failure with edgeconv's exit code (1 a budget failed, 2 bad spec/input or a corrupted bundle,
# 3 runtime missing, 4 a stage failed).
#
# Usage: release.sh [SPEC] [OUT]     (defaults: edgeconv.yaml, out)
set -euo pipefail

spec="${1:-edgeconv.yaml}"
out="${2:-out}"

edgeconv build "$spec" --out "$out"
edgeconv bundle "$out" --dest "$out/bundles" > "$out/bundles.txt"
while IFS= read -r bundle; do
  edgeconv bundle verify "$bundle"
done < "$out/bundles.txt"
echo "release ready: $(wc -l < "$out/bundles.txt") bundle(s) in $out/bundles"
