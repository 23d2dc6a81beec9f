"""Turn a data section of the spec into model feeds, checked against the model's inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeconv.data.feeds import LABELS_KEY, FeedSet
from edgeconv.data.images import SUFFIXES, list_images, load_pixels
from edgeconv.data.labels import encode_labels
from edgeconv.data.records import field_values, iter_records, select
from edgeconv.data.targets import Truth
from edgeconv.errors import DataError
from edgeconv.models.tasks import TensorInfo
from edgeconv.spec import DatasetSpec, ImagePreprocess, TextPreprocess


def make_feeds(
    ds: DatasetSpec,
    role: str,
    inputs: list[TensorInfo],
    labels: list[str],
    text: TextPreprocess,
    preprocessor: Any = None,
    image: ImagePreprocess | None = None,
    truth: Truth | None = None,
) -> FeedSet:
    """Read ``ds`` and make feeds for ``inputs``; ``role`` ('calibration', 'evaluation') names it in errors.

    ``preprocessor`` is the model's tokenizer or image processor; ``image`` an explicit image
    preprocessing that replaces the processor's. ``truth`` says where an image folder's box labels or
    masks are.
    """
    if truth is not None and ds.format != "images":
        raise DataError(f"box labels and masks go with an image folder; the {role} set '{ds.path.name}' is "
                        f"{ds.format}", fix="give the evaluation images as a folder, with the labels beside them")
    if ds.format == "npz":
        feeds = _from_npz(ds, labels)
    elif ds.format == "npy":
        feeds = _from_npy(ds, inputs)
    elif ds.format == "images":
        feeds = _from_images(ds, role, inputs, labels, preprocessor, image, truth)
    else:
        feeds = _from_text(ds, role, inputs, labels, text, preprocessor)
    if len(feeds) == 0:
        raise DataError(f"the {role} set '{ds.path.name}' is empty", fix="give it at least one example")
    check_feeds(feeds, inputs, ds.path)
    feeds.unbatched = frozenset(t.name for t in inputs if not has_batch_axis(t))  # check_feeds held their ranks
    return feeds


def has_batch_axis(info: TensorInfo) -> bool:
    """Whether the input's first axis is a batch (dynamic, or 1); a recurrent state [2, batch, 128] or a
    scalar has none, and its feeds carry one entry per example in front instead."""
    return len(info.shape) > 0 and (isinstance(info.shape[0], str) or info.shape[0] in (1, -1, 0))


def _from_text(
    ds: DatasetSpec, role: str, inputs: list[TensorInfo], labels: list[str], text: TextPreprocess, tokenizer: Any
) -> FeedSet:
    if tokenizer is None:
        raise DataError(f"the {role} set '{ds.path.name}' is text but the model has no tokenizer",
                        fix="set model.preprocessor to a folder with the tokenizer, or give .npz feeds")
    stratify = ds.label_field if ds.stratify_by == "label" else None
    records = select(lambda: iter_records(ds.path, ds.format or "jsonl"), ds.count, ds.seed, stratify)
    if not records:
        raise DataError(f"the {role} set '{ds.path.name}' is empty", fix="give it at least one example")
    texts = [str(t) for t in field_values(records, ds.text_field, ds.path)]
    pairs = [str(t) for t in field_values(records, ds.text_pair_field, ds.path)] if ds.text_pair_field else None
    encoded = tokenizer(
        texts, pairs, max_length=text.max_length, padding=text.padding,
        truncation=text.truncation, return_tensors="np",
    )
    names = [t.name for t in inputs]
    feeds = {n: np.asarray(encoded[n], dtype=_dtype(inputs, n)) for n in names if n in encoded}
    label_array = None
    if ds.label_field and all(ds.label_field in r for r in records):
        label_array = encode_labels(field_values(records, ds.label_field, ds.path), labels, ds.path)
    raw: list[Any] = [list(p) for p in zip(texts, pairs, strict=True)] if pairs else list(texts)
    return FeedSet(feeds, label_array, raw=raw)


def _from_images(
    ds: DatasetSpec, role: str, inputs: list[TensorInfo], labels: list[str], processor: Any,
    image: ImagePreprocess | None, truth: Truth | None,
) -> FeedSet:
    if len(inputs) != 1:
        raise DataError(f"the {role} set is images but the model takes {len(inputs)} inputs",
                        fix="give .npz feeds named after the model's inputs")
    stratify = "label" if ds.stratify_by == "label" else None
    records = select(lambda: iter(list_images(ds.path)), ds.count, ds.seed, stratify)
    if not records:
        raise DataError(f"the {role} set '{ds.path.name}' holds no images ({', '.join(sorted(SUFFIXES))})")
    pixels, shapes = load_pixels(records, processor, image)
    has_labels = all("label" in r for r in records)
    label_array = encode_labels([r["label"] for r in records], labels, ds.path) if has_labels else None
    targets = truth.read(records, image, labels) if truth is not None else None
    return FeedSet({inputs[0].name: pixels}, label_array, targets=targets,
                   shapes={} if shapes is None else {inputs[0].name: shapes}, raw=[str(r["path"]) for r in records])


def _from_npy(ds: DatasetSpec, inputs: list[TensorInfo]) -> FeedSet:
    if len(inputs) != 1:
        raise DataError(f"'{ds.path.name}' holds one array but the model takes {len(inputs)} inputs",
                        fix="give an .npz with one array per input, named after it")
    try:
        array = np.load(ds.path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"'{ds.path.name}' is not a readable .npy file ({exc})") from exc
    feeds = FeedSet({inputs[0].name: array})
    return _subset(feeds, ds) if ds.count is not None and ds.count < len(feeds) else feeds


def _subset(feeds: FeedSet, ds: DatasetSpec) -> FeedSet:
    assert ds.count is not None
    order = np.sort(np.random.default_rng(ds.seed).choice(len(feeds), ds.count, replace=False))
    labels = None if feeds.labels is None else feeds.labels[order]
    return FeedSet({k: v[order] for k, v in feeds.inputs.items()}, labels)


def _from_npz(ds: DatasetSpec, labels: list[str]) -> FeedSet:
    if not ds.path.is_file():
        raise DataError(f"data file '{ds.path}' not found", fix="check the path in the spec")
    try:
        with np.load(ds.path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError) as exc:
        raise DataError(f"'{ds.path.name}' is not a readable .npz file ({exc})",
                        fix="save feeds with numpy.savez(path, input_name=array, ...)") from exc
    label_key = LABELS_KEY if LABELS_KEY in arrays else ds.label_field
    raw_labels = arrays.pop(label_key, None) if label_key else None
    if not arrays:
        return FeedSet({"": np.empty((0,))})
    sizes = {k: len(v) for k, v in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(f"'{ds.path.name}': arrays hold different numbers of examples {sizes}")
    feeds = FeedSet(arrays, None if raw_labels is None else encode_labels(list(raw_labels), labels, ds.path))
    return _subset(feeds, ds) if ds.count is not None and ds.count < len(feeds) else feeds


def _dtype(inputs: list[TensorInfo], name: str) -> str:
    return next(t.dtype for t in inputs if t.name == name)


def check_feeds(feeds: FeedSet, inputs: list[TensorInfo], path: Path) -> None:
    """Names, dtypes and ranks of the feeds must match the model's inputs exactly."""
    want = {t.name: t for t in inputs}
    missing = sorted(set(want) - set(feeds.inputs))
    extra = sorted(set(feeds.inputs) - set(want))
    if missing or extra:
        raise DataError(
            f"'{path.name}' feeds {sorted(feeds.inputs)} do not match the model inputs {sorted(want)}"
            + (f"; missing {missing}" if missing else "") + (f"; unexpected {extra}" if extra else ""),
            fix="name the arrays (or choose the text fields) after the model's inputs",
        )
    for name, info in want.items():
        array = feeds.inputs[name]
        if array.dtype != np.dtype(info.dtype):
            raise DataError(f"'{path.name}' input '{name}' is {array.dtype}, the model takes {info.dtype}",
                            fix=f"save it as {info.dtype}")
        # The model's own rank: the first axis is the batch; one more axis: the example axis in front of an
        # input that has no batch axis (fed one example at a time, e.g. a recurrent state or a scalar).
        ranks = (len(info.shape),) if has_batch_axis(info) else (len(info.shape) + 1,)
        if array.ndim not in ranks:
            layout = "its batch axis first" if has_batch_axis(info) else "one more axis in front, one entry per example"
            raise DataError(
                f"'{path.name}' input '{name}' has rank {array.ndim} (with the example axis), "
                f"the model takes rank {len(info.shape)} {list(info.shape)}",
                fix=f"give '{name}' with {layout}",
            )
        # Fixed sizes the model declares (a TorchScript model's model.inputs, an ONNX file's static dims): a mismatch
        # is bad data, said here before any work rather than by a shape guard deep inside the export.
        fixed = list(info.shape[1:]) if has_batch_axis(info) else list(info.shape)
        for axis, (want_dim, have_dim) in enumerate(zip(fixed, array.shape[1:], strict=False), start=1):
            if isinstance(want_dim, int) and want_dim > 0 and have_dim != want_dim:
                raise DataError(
                    f"'{path.name}' input '{name}' has shape {list(array.shape[1:])} per example, the model takes "
                    f"{list(info.shape)} (axis {axis}: {have_dim}, not {want_dim})",
                    fix=f"give '{name}' examples of the model's shape, or correct model.inputs")
