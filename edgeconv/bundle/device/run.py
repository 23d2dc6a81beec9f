#!/usr/bin/env python3
"""Run this bundle's artifact on raw input, fed as edgeconv fed it in verification; ``--check`` replays the
golden set. Needs only what requirements.txt names (the runtime, numpy, the preprocessing library): never
edgeconv, never torch. The modules under ``pkg/`` are edgeconv's runner, verify worker and pixel code, the very
files verification ran, copied as they are.

    python run.py "some text" ["more text" ...]   text models: one example per text (--pair for a second text)
    python run.py --file lines.txt                text models: one example per line
    python run.py photo.jpg [...]                 image models
    python run.py feeds.npz                       any model: arrays named after its inputs, one row per example
    python run.py --check                         the golden set: the preprocessing must rebuild the verified
                                                  feeds, the artifact the verified outputs (within the spec's
                                                  atol + rtol * |verified|)
Options: --precision P (bundles holding several), --threads N, --json.
Exit codes: 0 ok, 1 the check found a difference, 2 bad input or no runtime.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "pkg"))


class BadInput(Exception):
    """One line for the user, exit 2."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("inputs", nargs="*", help="texts, image files, or one .npz of feeds")
    parser.add_argument("--file", type=Path, help="a text file: one example per line")
    parser.add_argument("--pair", help="the second text of a text-pair model (with one text)")
    parser.add_argument("--check", action="store_true", help="replay the golden set; exit 1 on a difference")
    parser.add_argument("--precision", help="which of the bundle's artifacts (default: the one the build chose)")
    parser.add_argument("--threads", type=int, help="runtime threads (default: the target profile's)")
    parser.add_argument("--json", action="store_true", help="one JSON object per example")
    args = parser.parse_args(argv)
    try:
        meta = json.loads((HERE / "metadata.json").read_text())
        precision = args.precision or meta["default"]
        if precision not in meta["artifacts"]:
            raise BadInput(f"this bundle holds no {precision} artifact (it holds {', '.join(meta['artifacts'])})")
        runner = load_runner(meta, precision, args.threads)
        feeds = [] if args.check else examples(meta, args)  # bad input is refused before the model loads
        try:
            runner.activate()
        except (ImportError, RuntimeError) as exc:
            raise BadInput(f"cannot load the {precision} artifact in its runtime ({exc}): "
                           "pip install -r requirements.txt") from exc
        try:
            if args.check:
                return check(meta, precision, runner)
            for i, example in enumerate(feeds):
                show(meta, i, runner.infer(example), args.json)
        finally:
            runner.deactivate()
        return 0
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def load_runner(meta: dict[str, Any], precision: str, threads: int | None) -> Any:
    from edgeconv.verify.worker import load_runner as worker_runner

    entry = meta["artifacts"][precision]
    kwargs = {**entry["runner"]["kwargs"], "path": str(HERE / entry["file"])}
    if threads:
        kwargs["threads"] = threads
    return worker_runner(entry["runner"]["runner"], kwargs)  # imports the runtime only when activated


# ---- raw input -> feeds, as edgeconv.data.make made them ---------------------------------------------------


def examples(meta: dict[str, Any], args: argparse.Namespace) -> list[dict[str, np.ndarray]]:
    recipe = meta["preprocessing"]
    items = list(args.inputs)
    if args.file:
        items += [line for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not items:
        raise BadInput("nothing to run: give texts, image files or an .npz (or --check)")
    if len(items) == 1 and items[0].endswith(".npz"):
        return npz_feeds(meta, Path(items[0]))
    from edgeconv.data.raw_input import RawInputError, image_feeds, text_feeds

    try:
        if recipe["kind"] == "text":
            raw: list[Any] = [[items[0], args.pair]] if args.pair else items
            return [text_feeds(recipe, HERE, r) for r in raw]
        if recipe["kind"] == "image":
            return [image_feeds(recipe, Path(p)) for p in items]
    except RawInputError as exc:
        raise BadInput(str(exc)) from exc
    raise BadInput(f"this model takes .npz feeds only: {recipe['why']}")


def npz_feeds(meta: dict[str, Any], path: Path) -> list[dict[str, np.ndarray]]:
    recipe = meta["preprocessing"]
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise BadInput(f"'{path}' is not a readable .npz ({exc})") from exc
    names = [i["name"] for i in recipe["inputs"]]
    missing = [n for n in names if n not in arrays]
    if missing:
        raise BadInput(f"'{path}' lacks input '{missing[0]}' (the model takes {', '.join(names)})")
    count = len(arrays[names[0]])
    unbatched = set(recipe["unbatched"])
    return [{n: np.asarray(arrays[n][i]) if n in unbatched else arrays[n][i : i + 1] for n in names}
            for i in range(count)]


# ---- results ----------------------------------------------------------------------------------------------


def show(meta: dict[str, Any], i: int, outputs: dict[str, np.ndarray], as_json: bool) -> None:
    labels, first = meta.get("labels") or [], next(iter(outputs.values()))
    label = labels[int(np.argmax(first.reshape(-1)))] if labels and first.size == len(labels) else None
    if as_json:
        print(json.dumps({"example": i, "label": label, "outputs": {k: v.tolist() for k, v in outputs.items()}}))
        return
    if label is not None:
        print(f"{i}: {label}  logits {np.array2string(first.reshape(-1), precision=4, separator=', ')}")
        return
    for name, value in outputs.items():
        print(f"{i}: {name} {list(value.shape)} {value.dtype} min {value.min():.4g} max {value.max():.4g} "
              f"mean {value.mean():.4g}")


def check(meta: dict[str, Any], precision: str, runner: Any) -> int:
    """Rebuild each golden example's feeds from its raw input, run it, compare with what verification recorded."""
    golden, recipe = meta["golden"], meta["preprocessing"]
    with np.load(HERE / golden["file"], allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    problems, names = [], golden["inputs"]
    for i in range(golden["count"]):
        recorded = {n: arrays[f"feed.{i}.{j}"] for j, n in enumerate(names)}
        feeds = recorded
        if i < len(golden["raw"]) and recipe["kind"] in ("text", "image"):
            from edgeconv.data.raw_input import image_feeds, text_feeds

            raw = golden["raw"][i]
            rebuilt = text_feeds(recipe, HERE, raw) if recipe["kind"] == "text" else image_feeds(recipe, HERE / raw)
            drift = feed_differences(rebuilt, recorded)
            problems += [f"golden example {i}: preprocessing differs from verification: {d}" for d in drift]
            feeds = recorded if drift else rebuilt  # a drifted input still lets the runtime be checked alone
        outputs = runner.infer(feeds)
        for k, name in enumerate(golden["outputs"][precision]):
            expected = arrays[f"out.{precision}.{i}.{k}"]
            difference = output_difference(outputs.get(name), expected, golden["tolerances"][precision][k])
            if difference:
                problems.append(f"golden example {i}: output '{name}' {difference}")
    for line in problems:
        print(line)
    if problems:
        print(f"FAILED: {len(problems)} difference(s) over {golden['count']} golden examples ({precision})")
        return 1
    print(f"ok: {golden['count']} golden examples of {precision} match the verified feeds and outputs")
    return 0


def feed_differences(rebuilt: dict[str, np.ndarray], recorded: dict[str, np.ndarray]) -> list[str]:
    found = []
    for name, want in recorded.items():
        got = rebuilt.get(name)
        if got is None or got.shape != want.shape:
            found.append(f"input '{name}' has shape {None if got is None else list(got.shape)}, "
                         f"verified {list(want.shape)}")
        elif np.issubdtype(want.dtype, np.floating):
            diff = float(np.max(np.abs(got.astype(np.float64) - want)))
            if diff > 1e-4:  # float pixels: the resize and arithmetic are the same code, so only noise may differ
                found.append(f"input '{name}' differs by up to {diff:.3g}")
        elif not np.array_equal(got, want):
            wrong = int(np.sum(got != want))
            found.append(f"input '{name}' differs in {wrong} of {want.size} values")
    return found


def output_difference(got: np.ndarray | None, want: np.ndarray, tol: dict[str, float]) -> str | None:
    """What is wrong with an output against its verified value (allclose semantics), or None."""
    if got is None:
        return "is missing"
    if got.size != want.size:
        return f"has shape {list(got.shape)}, verified {list(want.shape)}"
    got64, want64 = got.reshape(want.shape).astype(np.float64), want.astype(np.float64)
    error = np.abs(got64 - want64)
    outside = error > tol["atol"] + tol["rtol"] * np.abs(want64)
    if want.size == 0 or outside.mean() <= tol["max_mismatch"]:
        return None
    worst = np.unravel_index(int(np.argmax(error)), want.shape)
    return (f"differs from the verified output: {int(outside.sum())} of {want.size} values beyond atol "
            f"{tol['atol']:g} + rtol {tol['rtol']:g}*|verified| (largest at {list(map(int, worst))}: "
            f"{got64[worst]:.6g}, verified {want64[worst]:.6g})")


if __name__ == "__main__":
    sys.exit(main())
