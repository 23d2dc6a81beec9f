"""Make the file-type sets for Google's Magika model: byte features of real files, labelled by what they are.

Magika (the magika wheel, Apache-2.0) classifies a file's content type from its first and last 1024
bytes (whitespace-stripped, padded with token 256): ``bytes`` int32 [batch, 2048] -> 214 probabilities.
The files are real: the Python standard library and the packages installed beside edgeconv, chosen by
suffix, so each label is what the file is (a ``.py`` file is Python source, a ``.png`` file a PNG image).
Features come from Magika's own extraction code, so the model sees exactly what its CLI feeds it.

    python calibration/file-types/make.py      # writes calib.npz, eval.npz and sources.txt here
"""

from __future__ import annotations

import io
import random
import sys
import sysconfig
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# suffix -> Magika's label; each one a type whose files any Python installation holds. Not .txt (a .txt file
# may hold CSV, INI or reStructuredText) nor .h (torch's headers are C++).
TYPES = {".py": "python", ".json": "json", ".png": "png", ".c": "c", ".md": "markdown",
         ".html": "html", ".xml": "xml", ".css": "css", ".js": "javascript", ".sh": "shell",
         ".toml": "toml", ".csv": "csv", ".svg": "svg", ".gif": "gif", ".jpg": "jpeg", ".pdf": "pdf",
         ".zip": "zip", ".gz": "gzip", ".so": "elf", ".ini": "ini", ".yaml": "yaml", ".rst": "rst"}
PER_TYPE = {"calib": 6, "eval": 10}
MIN_BYTES = 64  # Magika answers tiny files without its model


def candidates() -> dict[str, list[Path]]:
    roots = {Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])}
    found: dict[str, list[Path]] = {label: [] for label in set(TYPES.values())}
    for root in sorted(roots):
        for path in sorted(root.rglob("*")):
            label = TYPES.get(path.suffix.lower())
            if label and path.is_file() and not path.is_symlink() and path.stat().st_size >= MIN_BYTES:
                found[label].append(path)
    return found


def features(path: Path, config: dict) -> list[int]:
    from magika import Magika
    from magika.types.seekable import Seekable

    with path.open("rb") as stream:
        extracted = Magika._extract_features_from_seekable(
            Seekable(io.BufferedReader(stream)), config["beg_size"], config["mid_size"], config["end_size"],
            config["padding_token"], config["block_size"], config["use_inputs_at_offsets"])
    return extracted.beg[: config["beg_size"]] + extracted.end[-config["end_size"]:]


def main() -> None:
    import json

    import magika

    model_dir = Path(magika.__file__).parent / "models" / "standard_v3_3"
    config = json.loads((model_dir / "config.min.json").read_text())
    labels = config["target_labels_space"]
    rng = random.Random("file-types")
    pools = candidates()
    sources = []
    for split, count in PER_TYPE.items():
        rows, targets = [], []
        for label in sorted(pools):
            pool = pools[label]
            rng.shuffle(pool)
            for path in [pool.pop() for _ in range(min(count, len(pool)))]:
                rows.append(features(path, config))
                targets.append(labels.index(label))
                sources.append(f"{split}\t{label}\t{path.relative_to(path.parents[len(path.parents) - 4])}")
        np.savez_compressed(HERE / f"{split}.npz", bytes=np.array(rows, np.int32),
                            __labels__=np.array(targets, np.int64))
        print(f"{split}: {len(rows)} files, {len(set(targets))} types", file=sys.stderr)
    header = "split\tlabel\tfile (under the Python installation)\n"
    (HERE / "sources.txt").write_text(header + "\n".join(sources) + "\n")


if __name__ == "__main__":
    main()
