"""Recover a pruned model's accuracy by distillation from the unpruned model, within a step and time budget.

Loss (Hinton et al.): ``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, label)``,
where ``_T`` is softmax at temperature T. The T^2 keeps the soft term's gradients on the scale of
the hard term's. Without labels the loss is the soft term alone.

With ``hidden_weight`` > 0, each repeated block's output (the members of the model's ModuleLists:
a transformer's layers, whose width structured pruning keeps) is also pulled towards the
teacher's, as layer-wise distillation does for pruned transformers (TinyBERT, CoFi): MSE divided
by the teacher's mean square, so the residual stream's outlier dimensions do not swamp it. Off by
default: on the sample it measured no better than logits alone (BENCHMARKS.md, pruning).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeconv.data.feeds import FeedSet
from edgeconv.progress.steps import Task
from edgeconv.spec import RecoverSpec


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor | None, temperature: float,
            alpha: float) -> torch.Tensor:
    t = temperature
    soft = nn.functional.kl_div(nn.functional.log_softmax(student / t, -1), nn.functional.log_softmax(teacher / t, -1),
                                reduction="batchmean", log_target=True) * t * t
    if labels is None or alpha >= 1:
        return soft
    return alpha * soft + (1 - alpha) * nn.functional.cross_entropy(student, labels)


def matching_blocks(student: nn.Module, teacher: nn.Module) -> list[str]:
    """Names of the ModuleList members present in both models: the blocks whose outputs are matched."""
    teacher_names = dict(teacher.named_modules())
    names = []
    for name, module in student.named_modules():
        if isinstance(module, nn.ModuleList):
            names += [f"{name}.{i}" for i in range(len(module)) if f"{name}.{i}" in teacher_names]
    return names


class BlockOutputs:
    """Forward hooks that keep the latest output tensor of the named blocks."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        modules = dict(model.named_modules())
        self.outputs: dict[str, torch.Tensor] = {}
        self.handles = [modules[n].register_forward_hook(self._keep(n)) for n in names]

    def _keep(self, name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            self.outputs[name] = output[0] if isinstance(output, tuple) else output
        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def hidden_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over the blocks of the student's MSE to the teacher, relative to the teacher's mean square."""
    terms = [nn.functional.mse_loss(student[n], teacher[n]) / teacher[n].pow(2).mean().clamp_min(1e-8)
             for n in teacher if n in student and student[n].shape == teacher[n].shape]
    return torch.stack(terms).mean() if terms else torch.zeros(())


def student_teacher_gap(student: nn.Module, teacher: nn.Module, feeds: FeedSet, names: list[str],
                        temperature: float = 1.0, batch_size: int = 32) -> float:
    """Mean KL(teacher || student) on ``feeds``: how far the student's predictions are from the teacher's."""
    total, count = 0.0, 0
    student.eval()
    with torch.no_grad():
        for batch in feeds.batches(batch_size):
            args = [torch.from_numpy(batch[n]) for n in names]
            total += float(kd_loss(student(*args), teacher(*args), None, temperature, 1.0)) * len(args[0])
            count += len(args[0])
    return total / max(1, count)


def trim_padding(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cut a text batch after its last column any example attends to (dynamic padding).

    Feeds are padded to the spec's max_length, but tweets are a fraction of that: the trailing
    columns that every example masks out change no output, and cutting them took the sample's
    distillation from about 0.79 to 0.60 s per step. (HF's DataCollatorWithPadding pads per batch at
    tokenization; our feeds are already tokenized, so it is a slice.) Batches without a 2-D
    attention_mask are left as they are.
    """
    mask = batch.get("attention_mask")
    if mask is None or mask.ndim != 2 or not mask.any():
        return batch
    width = mask.shape[1]
    length = int(np.flatnonzero(mask.any(axis=0))[-1]) + 1
    return {n: v[:, :length] if v.ndim == 2 and v.shape[1] == width else v for n, v in batch.items()}


def distill(student: nn.Module, teacher: nn.Module, train: FeedSet, names: list[str], spec: RecoverSpec,
            keep_zeros: bool = False) -> dict[str, Any]:
    """Fine-tune ``student`` in place; returns what ran (steps, seconds, losses, why it stopped).

    ``keep_zeros``: weights that are exactly zero now stay zero (unstructured / 2:4 sparsity must
    survive the fine-tune), by re-applying the mask after every optimizer step.
    """
    torch.manual_seed(spec.seed)
    rng = np.random.default_rng(spec.seed)
    teacher.eval()
    student.train()
    masks = [(p, p != 0) for p in student.parameters() if p.dim() > 1] if keep_zeros else []
    # Embedding tables are never pruned (structured pruning keeps the hidden size) and are most of a
    # small transformer's weights: training them costs a dense 30k x d gradient and optimizer update
    # per step for little recovery, so they stay frozen.
    frozen = {id(p) for m in student.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    for param in student.parameters():
        param.requires_grad_(id(param) not in frozen)
    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=spec.lr)
    blocks = matching_blocks(student, teacher) if spec.hidden_weight > 0 else []
    student_blocks, teacher_blocks = BlockOutputs(student, blocks), BlockOutputs(teacher, blocks)
    alpha = spec.alpha if train.labels is not None else 1.0
    losses: list[float] = []
    stopped, start, step = "max_steps", time.monotonic(), 0
    progress = Task("distillation step", spec.max_steps, at_most=True, limit_s=spec.max_time_s)
    try:
        while step < spec.max_steps and stopped == "max_steps":
            order = rng.permutation(len(train))
            for start_i in range(0, len(order), spec.batch_size):
                if step >= spec.max_steps:
                    break
                if time.monotonic() - start > spec.max_time_s:
                    stopped = "max_time_s"
                    break
                idx = np.sort(order[start_i:start_i + spec.batch_size])
                batch = trim_padding({n: train.inputs[n][idx] for n in names})
                args = [torch.from_numpy(batch[n]) for n in names]
                labels = None if train.labels is None else torch.from_numpy(train.labels[idx])
                with torch.no_grad():
                    teacher_logits = teacher(*args)
                loss = kd_loss(student(*args), teacher_logits, labels, spec.temperature, alpha)
                if blocks:
                    loss = loss + spec.hidden_weight * hidden_loss(student_blocks.outputs, teacher_blocks.outputs)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    for param, mask in masks:
                        param.mul_(mask)
                losses.append(float(loss.detach()))
                step += 1
                progress.advance(f"loss {losses[-1]:.4f}")
    finally:
        student_blocks.remove()
        teacher_blocks.remove()
    student.eval()
    head = losses[: max(1, len(losses) // 10)]
    tail = losses[-max(1, len(losses) // 10):]
    return {
        "steps": step, "seconds": round(time.monotonic() - start, 2), "stopped_by": stopped,
        "examples": len(train), "loss_first": float(np.mean(head)) if losses else None,
        "loss_last": float(np.mean(tail)) if losses else None, "temperature": spec.temperature, "alpha": alpha,
        "hidden_weight": spec.hidden_weight, "hidden_blocks": len(blocks),
    }
