"""Each pruning mode on a tiny BERT and a tiny CNN: shapes, export, an ONNX Runtime run, the 2:4 pattern."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from tests.compress.tiny_models import make_tiny_bert, make_tiny_cnn

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning", reason="Torch-Pruning is not installed (pip install edgeconv[prune])")

from edgeconv.compress.prune import prune_model  # noqa: E402
from edgeconv.compress.pruned_io import load_pruned, save_pruned  # noqa: E402
from edgeconv.compress.sparsity import gzip_size, two_four_report  # noqa: E402
from edgeconv.data.feeds import FeedSet  # noqa: E402
from edgeconv.errors import SpecError  # noqa: E402
from edgeconv.export import export_onnx  # noqa: E402
from edgeconv.models.loaded import LoadedModel  # noqa: E402
from edgeconv.models.tasks import TensorInfo  # noqa: E402
from edgeconv.models.wrappers import FirstOutput, NamedLogits  # noqa: E402
from edgeconv.spec import ExportSpec, PruneSpec  # noqa: E402

BERT_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("bert"))


def tiny_bert(folder: Path) -> LoadedModel:
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification.from_pretrained(folder).eval()
    inputs = [TensorInfo(n, "int64", ("batch", "sequence")) for n in BERT_INPUTS]
    return LoadedModel(NamedLogits(model, BERT_INPUTS).eval(), inputs, "logits", ["negative", "positive"])


def bert_feeds(n: int = 16, length: int = 10, seed: int = 0) -> FeedSet:
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 25, size=(n, length)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[: n // 2, length - 3:] = 0  # some padding, so the attention mask matters
    return FeedSet({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})


def tiny_cnn() -> LoadedModel:
    return LoadedModel(FirstOutput(make_tiny_cnn()), [TensorInfo("pixel_values", "float32", ("batch", 4, 8, 8))],
                       "logits", ["a", "b", "c"])


def cnn_feeds(n: int = 16) -> FeedSet:
    return FeedSet({"pixel_values": np.random.default_rng(0).normal(size=(n, 4, 8, 8)).astype(np.float32)})


def args_of(loaded: LoadedModel, feeds: FeedSet, n: int = 1) -> tuple:
    return tuple(torch.from_numpy(feeds.inputs[t.name][:n]) for t in loaded.inputs)


def export(loaded: LoadedModel, feeds: FeedSet, path: Path) -> dict:
    """Export with edgeconv's exporter: it raises if ONNX Runtime's output differs from torch."""
    return export_onnx(loaded, feeds, path, ExportSpec(parity_atol=1e-4), task="classification").parity


@pytest.mark.parametrize("make", ["bert", "cnn"])
def test_structured_shrinks_exports_and_runs(make: str, bert_dir: Path, tmp_path: Path) -> None:
    loaded, feeds = (tiny_bert(bert_dir), bert_feeds()) if make == "bert" else (tiny_cnn(), cnn_feeds())
    dense = tmp_path / "dense.onnx"
    export(loaded, feeds, dense)
    pruned = copy.deepcopy(loaded.module)
    record = prune_model(pruned, PruneSpec(mode="structured", ratio=0.4), args_of(loaded, feeds))
    scope_removed = 1 - record.scope_params_after / record.scope_params_before
    assert scope_removed >= 0.4  # the ratio is what the user gets, not a per-layer channel fraction
    assert record.params_after < record.params_before and record.macs_after < record.macs_before
    small = tmp_path / "pruned.onnx"
    parity = export(LoadedModel(pruned, loaded.inputs, "logits", loaded.labels), feeds, small)
    assert parity["top1_agreement"] == 1.0
    assert small.stat().st_size < dense.stat().st_size
    if make == "bert":
        attention = pruned.model.bert.encoder.layer[0].attention.self
        assert attention.num_attention_heads < 4
        assert attention.all_head_size == attention.query.out_features == attention.num_attention_heads * 8
        assert record.heads_after < record.heads_before


def test_pruned_model_reloads_from_weights_and_shapes(bert_dir: Path, tmp_path: Path) -> None:
    loaded, feeds = tiny_bert(bert_dir), bert_feeds()
    pruned = copy.deepcopy(loaded.module)
    prune_model(pruned, PruneSpec(mode="structured", ratio=0.5, scope="global"), args_of(loaded, feeds))
    save_pruned(pruned, tmp_path)
    reloaded = load_pruned(copy.deepcopy(loaded.module), tmp_path)
    args = args_of(loaded, feeds, 8)
    with torch.no_grad():
        assert torch.allclose(pruned(*args), reloaded(*args))


def kl_without(loaded: LoadedModel, block: int, args: tuple) -> float:
    """KL of the tiny BERT's output with one block skipped, from its full output (computed here, independently)."""
    model = copy.deepcopy(loaded.module)
    layers = model.model.bert.encoder.layer
    with torch.no_grad():
        full = loaded.module(*args).log_softmax(-1)
        model.model.bert.encoder.layer = torch.nn.ModuleList([m for i, m in enumerate(layers) if i != block])
        out = model(*args).log_softmax(-1)
    return float(torch.nn.functional.kl_div(out, full, reduction="batchmean", log_target=True))


@pytest.mark.parametrize("ratio", [None, 0.3])
def test_drop_blocks_removes_the_least_influential_block(ratio: float | None, bert_dir: Path,
                                                           tmp_path: Path) -> None:
    loaded, feeds = tiny_bert(bert_dir), bert_feeds()
    # Block 0 writes nothing to the residual stream (it is nearly the identity), block 1 a lot: block 0
    # must go, which neither "drop the last blocks" nor a random pick would do reliably.
    loaded = LoadedModel(copy.deepcopy(loaded.module), loaded.inputs, "logits", loaded.labels)
    layers = loaded.module.model.bert.encoder.layer
    with torch.no_grad():
        for dense in (layers[0].attention.output.dense, layers[0].output.dense):
            dense.weight.zero_()
            dense.bias.zero_()
        layers[1].output.dense.weight.mul_(20)
    args = args_of(loaded, feeds, 16)
    influence = {i: kl_without(loaded, i, args) for i in range(2)}
    assert influence[0] < influence[1]
    pruned = copy.deepcopy(loaded.module)
    record = prune_model(pruned, PruneSpec(mode="structured", drop_blocks=1, ratio=ratio), args_of(loaded, feeds),
                         importance_batch=args)
    assert record.dropped_blocks == [0]
    assert record.block_influence[0] == pytest.approx(influence[0], rel=1e-3, abs=1e-9)
    assert (record.block_stack, record.blocks_before, record.blocks_after) == ("bert.encoder.layer", 2, 1)
    bert = pruned.model
    assert len(bert.bert.encoder.layer) == bert.config.num_hidden_layers == 1
    assert bert.bert.encoder.layer[0].attention.self.layer_idx == 0  # renumbered: it was block 1
    assert record.params_after < record.params_before and record.macs_after < record.macs_before
    if ratio:
        assert record.heads_after < record.heads_before - 4  # a whole block's heads plus pruned ones
    dense, small = tmp_path / "dense.onnx", tmp_path / "pruned.onnx"
    export(loaded, feeds, dense)
    assert export(LoadedModel(pruned, loaded.inputs, "logits", loaded.labels), feeds, small)["top1_agreement"] == 1.0
    assert small.stat().st_size < dense.stat().st_size
    save_pruned(pruned, tmp_path)
    reloaded = load_pruned(copy.deepcopy(loaded.module), tmp_path)
    with torch.no_grad():
        assert torch.allclose(pruned(*args), reloaded(*args))


def test_drop_blocks_needs_a_block_stack_and_leaves_one(bert_dir: Path) -> None:
    loaded, feeds = tiny_bert(bert_dir), bert_feeds()
    args = args_of(loaded, feeds, 4)
    with pytest.raises(SpecError, match="would remove every block: the model has 2"):
        prune_model(copy.deepcopy(loaded.module), PruneSpec(mode="structured", drop_blocks=2), args, args)
    with pytest.raises(SpecError, match="measures which blocks matter least on real examples"):
        prune_model(copy.deepcopy(loaded.module), PruneSpec(mode="structured", drop_blocks=1), args, None)
    cnn, pixels = tiny_cnn(), cnn_feeds()
    with pytest.raises(SpecError, match="stack of repeated blocks"):
        prune_model(cnn.module, PruneSpec(mode="structured", drop_blocks=1), args_of(cnn, pixels),
                    args_of(cnn, pixels, 4))


def test_frozen_model_still_prunes(bert_dir: Path) -> None:
    """A merged PEFT model comes back with requires_grad off; DepGraph traces through autograd."""
    loaded, feeds = tiny_bert(bert_dir), bert_feeds()
    loaded.module.requires_grad_(False)
    record = prune_model(loaded.module, PruneSpec(mode="structured", ratio=0.3), args_of(loaded, feeds))
    assert record.params_after < record.params_before


@pytest.mark.parametrize("scope", ["global", "per_layer"])
def test_unstructured_is_permanent_zeros_of_the_same_shape(scope: str, bert_dir: Path) -> None:
    loaded = tiny_bert(bert_dir)
    before = {n: p.shape for n, p in loaded.module.named_parameters()}
    record = prune_model(loaded.module, PruneSpec(mode="unstructured", ratio=0.6, scope=scope),
                         args_of(loaded, bert_feeds()))
    assert {n: p.shape for n, p in loaded.module.named_parameters()} == before
    assert not any(hasattr(m, "weight_mask") for m in loaded.module.modules())  # prune.remove ran
    assert abs(record.sparsity - 0.6) < 0.01 and record.params_after == record.params_before
    assert "no faster" in (record.note or "")
    if scope == "per_layer":
        ffn = loaded.module.model.bert.encoder.layer[0].intermediate.dense.weight
        assert abs(float((ffn == 0).float().mean()) - 0.6) < 0.01


@pytest.mark.parametrize("make", ["bert", "cnn"])
def test_two_four_survives_export_and_int8(make: str, bert_dir: Path, tmp_path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from edgeconv.compress.quantize import make_int8_static
    from edgeconv.spec import StaticQuantSpec

    loaded, feeds = (tiny_bert(bert_dir), bert_feeds()) if make == "bert" else (tiny_cnn(), cnn_feeds())
    record = prune_model(loaded.module, PruneSpec(mode="2:4"), args_of(loaded, feeds))
    assert record.sparsity == pytest.approx(0.5)
    for module in loaded.module.modules():
        if isinstance(module, torch.nn.Linear | torch.nn.Conv2d) and module.weight.shape[1] % 4 == 0:
            groups = module.weight.detach().movedim(1, -1).reshape(-1, 4)
            assert bool(((groups == 0).sum(-1) >= 2).all())
    fp32 = tmp_path / "model.onnx"
    export(loaded, feeds, fp32)
    report = two_four_report(fp32)
    assert report["weights_checked"] >= record.layers and report["without_pattern"] == []
    dynamic = tmp_path / "dynamic.onnx"
    quantize_dynamic(str(fp32), str(dynamic), weight_type=QuantType.QInt8)
    assert two_four_report(dynamic)["without_pattern"] == []
    static = tmp_path / "static.onnx"  # QDQ: the check reads the int8 weight behind each DequantizeLinear
    make_int8_static(fp32, static, feeds, StaticQuantSpec())
    qdq = two_four_report(static)
    assert qdq["weights_checked"] > 0 and qdq["without_pattern"] == []
    assert gzip_size(fp32) < fp32.stat().st_size


def test_two_four_check_sees_a_dense_weight(tmp_path: Path) -> None:
    """The check can fail: a dense model's weights are reported as not holding the pattern."""
    loaded, feeds = tiny_cnn(), cnn_feeds()
    path = tmp_path / "dense.onnx"
    export(loaded, feeds, path)
    report = two_four_report(path)
    assert report["weights_checked"] > 0 and report["weights_2_4"] == 0
