"""Depth pruning: remove whole repeated blocks (a transformer's layers), the least influential first.

Width pruning (structured.py) leaves every block's fixed costs in place: layer norms, the softmax,
and dynamic int8's quantize/dequantize of each activation. At batch 1 and short sequences those are
a large share of a small transformer's time (BENCHMARKS.md, pruning), so removing blocks buys more
latency per point of accuracy. Torch-Pruning removes channels, never whole residual blocks, and no
maintained library does this for arbitrary models, so it is written here: a ModuleList edit.

Which blocks go is measured, greedily: each round, every remaining block is skipped in turn and the
one whose absence moves the model's output least (KL divergence from the unpruned model's
predictions on real examples) is removed. ShortGPT's "block influence" ranks blocks by how little
they change their own input; measuring the output itself costs a few forward passes more and sees
what the user sees.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from edgeconv.errors import SpecError, StageError


@dataclass
class DepthRecord:
    stack: str  # the ModuleList's name, e.g. "bert.encoder.layer"
    before: int
    removed: list[int]  # original indices, in the order they were removed
    influence: list[float]  # the KL divergence each removal left, in the same order


def block_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The model's stack of repeated blocks: the longest ModuleList whose members are all one class."""
    stacks = [(name, m) for name, m in model.named_modules()
              if isinstance(m, nn.ModuleList) and len(m) > 1 and len(Counter(type(b) for b in m)) == 1]
    if not stacks:
        raise SpecError("prune.drop_blocks needs a model built as a stack of repeated blocks (a ModuleList of "
                        "transformer layers); this model has none",
                        fix="remove prune.drop_blocks and prune by prune.ratio (heads, neurons, channels)")
    return max(stacks, key=lambda item: len(item[1]))


def set_blocks(model: nn.Module, stack: str, blocks: list[nn.Module]) -> None:
    """Make ``blocks`` the model's stack, renumbering what counts them.

    Hugging Face blocks carry ``layer_idx`` (their cache slot) and the config ``num_hidden_layers``:
    both must describe the new stack.
    """
    holder_name, _, attr = stack.rpartition(".")
    holder = model.get_submodule(holder_name) if holder_name else model
    before = len(getattr(holder, attr))
    shared = {id(c): c for c in (getattr(m, "config", None) for m in model.modules()) if c is not None}
    configs = [c for c in shared.values() if getattr(c, "num_hidden_layers", None) == before]
    setattr(holder, attr, nn.ModuleList(blocks))
    for index, block in enumerate(blocks):
        for module in block.modules():
            if isinstance(getattr(module, "layer_idx", None), int):
                module.layer_idx = index
    for config in configs:
        config.num_hidden_layers = len(blocks)


def drop_blocks(model: nn.Module, wrapper: nn.Module, count: int, batch: tuple[torch.Tensor, ...]) -> DepthRecord:
    """Remove ``count`` blocks from ``model`` (the user's model inside ``wrapper``) in place."""
    stack, blocks = block_stack(model)
    if count >= len(blocks):
        raise SpecError(f"prune.drop_blocks {count} would remove every block: the model has {len(blocks)} "
                        f"in '{stack}'", fix=f"set prune.drop_blocks below {len(blocks)}")
    originals = list(blocks)
    kept = list(range(len(originals)))
    record = DepthRecord(stack, len(originals), [], [])
    with torch.no_grad():
        reference = wrapper(*batch).float().log_softmax(-1)

        def influence(without: int) -> float:
            set_blocks(model, stack, [originals[i] for i in kept if i != without])
            try:
                out = wrapper(*batch).float().log_softmax(-1)
            except Exception as exc:  # a block whose output is not its input's shape, say
                raise StageError(f"prune.drop_blocks: the model does not run without block {without} of "
                                 f"'{stack}': {str(exc).strip().splitlines()[0]}",
                                 fix="remove prune.drop_blocks; this model's blocks are not residual") from exc
            return float(nn.functional.kl_div(out, reference, reduction="batchmean", log_target=True))

        for _ in range(count):
            scores = {i: influence(i) for i in kept}
            least = min(scores, key=scores.__getitem__)
            kept.remove(least)
            record.removed.append(least)
            record.influence.append(float(f"{scores[least]:.6g}"))
    set_blocks(model, stack, [originals[i] for i in kept])
    return record
