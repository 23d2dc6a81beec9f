"""Prune a torch model in place before export: unstructured, structured (Torch-Pruning) or 2:4.

- unstructured: ``torch.nn.utils.prune`` magnitude pruning (global or per layer), then
  ``prune.remove`` so the zeros are plain weights. The tensors keep their shapes: the file only
  shrinks once compressed, and dense kernels run exactly as fast as before.
- structured: Torch-Pruning's DepGraph removes whole channels: attention heads and FFN neurons in
  transformers (the hidden size is kept, so embeddings and residual paths are untouched), output
  channels in CNNs. Pruning proceeds in small iterative steps until the requested fraction of the
  pruned layers' parameters (or the model's MACs) is gone, so ``ratio`` means what the user gets.
- structured with ``drop_blocks``: whole transformer layers go first (depth.py), the least
  influential on the output first; ``ratio`` (optional then) prunes the remaining blocks' width.
- 2:4: in every group of 4 consecutive input weights of a Linear/Conv, the 2 smallest are zeroed
  (the pattern NVIDIA's sparse tensor cores use).
"""

from __future__ import annotations

import difflib
import fnmatch

import torch
from torch import nn

from edgeconv.compress.depth import DepthRecord, drop_blocks
from edgeconv.errors import SpecError, StageError
from edgeconv.results import PruneRecord
from edgeconv.spec import PruneSpec

NO_SPEEDUP_NOTE = ("unstructured sparsity keeps every tensor dense: the file shrinks only when compressed, "
                   "and dense kernels (ONNX Runtime CPU, TensorRT without sparse kernels) run no faster")





def inner(module: nn.Module) -> nn.Module:
    """The user's model inside edgeconv's calling wrapper (NamedLogits / FirstOutput): names are relative to it."""
    return getattr(module, "model", module)


def prunable_layers(model: nn.Module, spec: PruneSpec) -> dict[str, nn.Module]:
    """Linear/Conv layers selected by ``layers`` / ``ignore`` (glob patterns on module names).

    A pattern that matches no layer is a spec error naming the closest layer names. The output
    layer (the last Linear: the classifier) is never structurally pruned, since that would change
    the model's number of classes.
    """
    candidates = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d)}
    if not candidates:
        raise SpecError("prune: the model has no Linear or Conv layers to prune")
    names = list(candidates)

    def matching(pattern: str, key: str) -> list[str]:
        found = [n for n in names if fnmatch.fnmatchcase(n, pattern) or n == pattern]
        if not found:
            close = difflib.get_close_matches(pattern, names, n=3, cutoff=0.3)
            hint = f"closest: {', '.join(close)}" if close else f"e.g. {names[0]}"
            raise SpecError(f"prune.{key}: no layer is named '{pattern}'", fix=f"use a module name or glob ({hint})")
        return found

    selected = names
    if spec.layers:
        chosen = {n for p in spec.layers for n in matching(p, "layers")}
        selected = [n for n in names if n in chosen]
    ignored = {n for p in spec.ignore for n in matching(p, "ignore")}
    if spec.mode == "structured" and isinstance(candidates[names[-1]], nn.Linear):
        ignored.add(names[-1])
    out = {n: candidates[n] for n in selected if n not in ignored}
    if not out:
        raise SpecError("prune: layers/ignore leave no layer to prune",
                        fix="widen prune.layers or shorten prune.ignore")
    return out


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weight_sparsity(layers: dict[str, nn.Module]) -> float:
    zeros = sum(int((m.weight == 0).sum()) for m in layers.values())
    return zeros / max(1, sum(m.weight.numel() for m in layers.values()))


def prune_model(
    wrapper: nn.Module, spec: PruneSpec, example_args: tuple[torch.Tensor, ...],
    importance_batch: tuple[torch.Tensor, ...] | None = None,
) -> PruneRecord:
    """Prune ``wrapper`` (edgeconv's calling wrapper around the user's model) in place."""
    if isinstance(wrapper, torch.jit.ScriptModule) or isinstance(inner(wrapper), torch.jit.ScriptModule):
        raise SpecError("prune: a TorchScript model cannot be pruned (its modules are compiled, not Python)",
                        fix="give the model as a Hugging Face folder or an eager nn.Module, or remove prune:")
    model = inner(wrapper)
    # A merged PEFT model comes back frozen; Torch-Pruning traces dependencies through autograd and
    # distillation trains every weight, so the copy being pruned needs gradients on.
    wrapper.requires_grad_(True)
    before = count_params(model)
    heads_before = _heads(model)
    macs_before = _macs(wrapper, example_args) if spec.mode == "structured" else None
    depth = _drop_blocks(wrapper, model, spec, importance_batch) if spec.drop_blocks else None
    layers = prunable_layers(model, spec)
    scope_before = sum(p.numel() for m in layers.values() for p in m.parameters())
    with torch.no_grad():
        if spec.mode == "unstructured":
            record = _unstructured(layers, spec)
        elif spec.mode == "2:4":
            record = _two_four(layers)
        else:
            record = None
    if record is None and spec.ratio is None:
        record = PruneRecord("structured", None, 0, 0, 0, 0)  # blocks only: the remaining ones keep their width
    elif record is None:
        from edgeconv.compress.structured import prune_structured

        record = prune_structured(wrapper, model, layers, spec, example_args, importance_batch)
    record.params_before, record.params_after = before, count_params(model)
    record.scope_params_before = scope_before
    record.scope_params_after = sum(p.numel() for m in layers.values() for p in m.parameters())
    if record.mode == "structured":
        record.macs_before, record.macs_after = macs_before, _macs(wrapper, example_args)
        if heads_before:
            record.heads_before, record.heads_after = heads_before, _heads(model)
        if depth is not None:
            record.block_stack, record.blocks_before = depth.stack, depth.before
            record.blocks_after = depth.before - len(depth.removed)
            record.dropped_blocks, record.block_influence = depth.removed, depth.influence
        check_structured_result(record)
    record.layer_names = list(layers)
    record.layers = record.layers or len(layers)
    return record


def _drop_blocks(wrapper: nn.Module, model: nn.Module, spec: PruneSpec,
                 batch: tuple[torch.Tensor, ...] | None) -> DepthRecord:
    if batch is None:
        raise SpecError("prune.drop_blocks measures which blocks matter least on real examples, and this build "
                        "has none", fix="add a calibration set or prune.recover.train")
    return drop_blocks(model, wrapper, spec.drop_blocks, batch)


def _heads(model: nn.Module) -> int:
    from edgeconv.compress.structured import attention_modules

    return sum(a.num_attention_heads for a in attention_modules(model))


def _macs(wrapper: nn.Module, example_args: tuple[torch.Tensor, ...]) -> int | None:
    """MACs as Torch-Pruning counts them; None where it cannot trace the model (they are only reported)."""
    try:
        import torch_pruning as tp

        return int(tp.utils.count_ops_and_params(wrapper, example_args)[0])
    except Exception:  # not installed (blocks only), or the tracing failures prune_structured reports
        return None


def _unstructured(layers: dict[str, nn.Module], spec: PruneSpec) -> PruneRecord:
    from torch.nn.utils import prune

    assert spec.ratio is not None
    params = [(m, "weight") for m in layers.values()]
    if (spec.scope or "global") == "global":
        prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=spec.ratio)
    else:
        for module, name in params:
            prune.l1_unstructured(module, name, amount=spec.ratio)
    for module, name in params:
        prune.remove(module, name)  # make it permanent: the mask is folded into a plain weight
    return PruneRecord("unstructured", spec.ratio, 0, 0, 0, 0, sparsity=weight_sparsity(layers),
                       importance="l1", note=NO_SPEEDUP_NOTE)


def _two_four(layers: dict[str, nn.Module]) -> PruneRecord:
    from torch.ao.pruning import WeightNormSparsifier

    linears = [n for n, m in layers.items() if isinstance(m, nn.Linear) and m.in_features % 4 == 0]
    convs = [m for m in layers.values() if isinstance(m, nn.Conv1d | nn.Conv2d) and _conv_in(m) % 4 == 0]
    if not linears and not convs:
        raise SpecError("prune.mode 2:4 needs layers whose input size is a multiple of 4; none of the chosen are",
                        fix="choose other prune.layers or another prune.mode")
    holder = nn.ModuleDict({str(i): layers[n] for i, n in enumerate(linears)})
    if linears:
        # torch.ao's sparsifier: blocks of 1x4 along the input axis, 2 zeros per block, by L2 norm.
        sparsifier = WeightNormSparsifier(sparsity_level=1.0, sparse_block_shape=(1, 4), zeros_per_block=2)
        sparsifier.prepare(holder, [{"tensor_fqn": f"{i}.weight"} for i in range(len(linears))])
        sparsifier.step()
        sparsifier.squash_mask()
    for conv in convs:
        conv.weight.copy_(two_four_conv(conv.weight))
    chosen = {n: layers[n] for n in linears} | {n: m for n, m in layers.items() if m in convs}
    skipped = len(layers) - len(chosen)
    note = f"{skipped} layer(s) skipped: input size not a multiple of 4" if skipped else None
    return PruneRecord("2:4", 0.5, 0, 0, 0, 0, sparsity=weight_sparsity(chosen), importance="l2", note=note,
                       layers=len(chosen))


def _conv_in(conv: nn.Module) -> int:
    return conv.weight.shape[1]


def two_four_conv(weight: torch.Tensor) -> torch.Tensor:
    """2:4 along a conv's input channels.

    Written here because torch.ao's WeightNormSparsifier takes only 2-D weights: move the input
    channels last, zero the 2 smallest |w| of each group of 4, move them back.
    """
    moved = weight.movedim(1, -1)
    groups = moved.reshape(-1, 4)
    keep = groups.abs().topk(2, dim=-1).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True)
    return (groups * mask).reshape(moved.shape).movedim(-1, 1).contiguous()


def check_structured_result(record: PruneRecord) -> None:
    if record.params_after >= record.params_before:
        raise StageError("structured pruning removed no parameters",
                         fix="raise prune.ratio, or check prune.layers selects prunable layers")
