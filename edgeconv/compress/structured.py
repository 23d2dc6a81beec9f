"""Structured pruning with Torch-Pruning (DepGraph): whole heads, FFN neurons and conv channels removed.

Transformers keep their hidden size: the layers whose outputs feed the residual stream (attention
output and FFN output projections) are never pruning roots, so only attention heads (query/key/
value grouped per head, after Torch-Pruning's HF BERT example) and FFN neurons go. That keeps the
embeddings whole, so the file shrinks by what the encoder loses (MEASURED.md: embeddings are half
of MiniLM). CNNs lose output channels of every chosen conv/linear.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from edgeconv.errors import SpecError, StageError
from edgeconv.results import PruneRecord
from edgeconv.spec import PruneSpec

MAX_RATIO = 0.9  # never remove more than this of any group's channels (keeps every layer alive)
SEARCH_STEPS = 7  # bisection steps on the channel ratio: within 0.9 / 2**7 = 0.7 % of the smallest enough


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """Self-attention blocks in the HF BERT/RoBERTa/ViT style: query/key/value Linear + num_attention_heads."""
    return [m for m in model.modules()
            if hasattr(m, "num_attention_heads") and all(isinstance(getattr(m, a, None), nn.Linear)
                                                         for a in ("query", "key", "value"))]


def residual_writers(model: nn.Module, attentions: list[nn.Module]) -> list[nn.Module]:
    """Linears whose output is the hidden size (the residual stream): not pruning roots in transformers."""
    if not attentions:
        return []
    hidden = attentions[0].query.in_features
    projections = {getattr(a, p) for a in attentions for p in ("query", "key", "value")}
    return [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == hidden
            and m not in projections]


def prune_structured(
    wrapper: nn.Module, model: nn.Module, layers: dict[str, nn.Module], spec: PruneSpec,
    example_args: tuple[torch.Tensor, ...], importance_batch: tuple[torch.Tensor, ...] | None = None,
) -> PruneRecord:
    """Remove channels until ``spec.ratio`` of the target (params of the chosen layers, or MACs) is gone.

    Torch-Pruning takes a per-group channel ratio; what that removes in parameters or MACs depends on
    the model, so we search the channel ratio (bisection on deep copies, one-shot pruning each) and
    then prune ``wrapper`` in place with the smallest ratio that reaches the target.
    (One-shot rather than TP's iterative steps: its local head pruning compounds across steps.)
    """
    import torch_pruning as tp

    assert spec.ratio is not None
    names = {id(m): n for n, m in model.named_modules()}
    layer_names = [names[id(m)] for m in layers.values()]
    try:
        # prune_model counts and reports MACs; here they are only needed as the target
        before = tp.utils.count_ops_and_params(wrapper, example_args)[0] if spec.target == "macs" \
            else _scope_params(model, layer_names)

        def removed(channel_ratio: float, target: nn.Module) -> float:
            _one_shot(target, layer_names, spec, channel_ratio, example_args, importance_batch)
            after = tp.utils.count_ops_and_params(target, example_args)[0] if spec.target == "macs" \
                else _scope_params(inner_of(target), layer_names)
            return 1 - after / before

        low, high = 0.0, MAX_RATIO
        if removed(high, copy.deepcopy(wrapper)) < spec.ratio:
            raise StageError(f"structured pruning cannot remove {spec.ratio:.0%} of the {spec.target} here "
                             f"(at most {removed(high, copy.deepcopy(wrapper)):.0%} with {MAX_RATIO:.0%} of "
                             "each layer's channels gone)", fix="lower prune.ratio or widen prune.layers")
        for _ in range(SEARCH_STEPS):
            mid = (low + high) / 2
            if removed(mid, copy.deepcopy(wrapper)) >= spec.ratio:
                high = mid
            else:
                low = mid
        _one_shot(wrapper, layer_names, spec, high, example_args, importance_batch)
        wrapper.zero_grad(set_to_none=True)
        with torch.no_grad():
            wrapper(*example_args)  # the pruned model must still run
    except (SpecError, StageError):
        raise
    except Exception as exc:  # DepGraph raises many types on graphs it cannot trace
        raise StageError(f"Torch-Pruning could not prune this model: {str(exc).strip().splitlines()[0]}",
                         fix="prune fewer layers (prune.layers / prune.ignore) or use prune.mode unstructured") from exc
    record = PruneRecord("structured", spec.ratio, 0, 0, 0, 0, importance=spec.importance)
    record.channel_ratio = round(high, 4)
    return record


def inner_of(wrapper: nn.Module) -> nn.Module:
    return getattr(wrapper, "model", wrapper)


def _one_shot(wrapper: nn.Module, layer_names: list[str], spec: PruneSpec, channel_ratio: float,
              example_args: tuple[torch.Tensor, ...], importance_batch: tuple[torch.Tensor, ...] | None) -> None:
    """Prune ``channel_ratio`` of each chosen group's channels (and heads) in one Torch-Pruning step."""
    import torch_pruning as tp

    model = inner_of(wrapper)
    modules = dict(model.named_modules())
    chosen = {modules[n] for n in layer_names}
    attentions = attention_modules(model)
    ignored = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d) and m not in chosen]
    ignored += residual_writers(model, attentions)
    num_heads = {getattr(a, p): a.num_attention_heads for a in attentions for p in ("query", "key", "value")
                 if a.query in chosen}
    pruner = tp.pruner.MetaPruner(
        wrapper, example_args, importance=_importance(spec.importance),
        global_pruning=(spec.scope or "per_layer") == "global", pruning_ratio=channel_ratio, iterative_steps=1,
        ignored_layers=ignored, num_heads=num_heads, prune_num_heads=bool(num_heads), prune_head_dims=False,
        # TP removes ceil(ratio * heads): cap the ratio so every attention block keeps one head.
        head_pruning_ratio=min(channel_ratio, (min(num_heads.values()) - 1) / min(num_heads.values()) - 1e-6)
        if num_heads else 0.0,
    )
    if spec.importance == "taylor":
        _taylor_grads(wrapper, importance_batch or example_args)
    for group in pruner.step(interactive=True):
        group.prune()
    wrapper.zero_grad(set_to_none=True)
    _fix_heads([a for a in attentions if a.query in num_heads], pruner)


def _scope_params(model: nn.Module, layer_names: list[str]) -> int:
    modules = dict(model.named_modules())
    return sum(p.numel() for n in layer_names for p in modules[n].parameters())


def _importance(name: str) -> Any:
    import torch_pruning as tp

    if name == "taylor":
        return tp.importance.GroupTaylorImportance()
    return tp.importance.GroupMagnitudeImportance(p=1 if name == "l1" else 2)


def _taylor_grads(wrapper: nn.Module, batch: tuple[torch.Tensor, ...]) -> None:
    """Taylor importance needs gradients: the loss against the model's own top-1 (no labels needed)."""
    wrapper.zero_grad(set_to_none=True)
    logits = wrapper(*batch)
    torch.nn.functional.cross_entropy(logits, logits.detach().argmax(-1)).backward()


def _fix_heads(attentions: list[nn.Module], pruner: Any) -> None:
    """After removing heads, tell each attention block its new head count (as TP's HF BERT example does)."""
    for attn in attentions:
        attn.num_attention_heads = pruner.num_heads[attn.query]
        attn.all_head_size = attn.query.out_features
        attn.attention_head_size = attn.all_head_size // attn.num_attention_heads
