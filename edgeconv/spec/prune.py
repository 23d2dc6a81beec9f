"""The spec's prune section: pruning before export, distillation after it, and prune.auto's candidate levels."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from edgeconv.spec.base import StrictModel
from edgeconv.spec.data import DatasetSpec


class RecoverSpec(StrictModel):
    """Distillation after pruning: the unpruned model teaches the pruned one on a training set."""

    train: DatasetSpec = Field(description="labelled training examples (never the evaluation set)")
    temperature: float = Field(2.0, gt=0, description="softens teacher and student logits for the KL term")
    alpha: float = Field(0.5, ge=0, le=1, description="weight of the soft (KL) loss; 1 - alpha weighs hard-label CE")
    hidden_weight: float = Field(0.0, ge=0, description="weight of the layer-wise loss on the repeated blocks' "
                                 "outputs (0: logits only)")
    max_steps: int = Field(300, gt=0)
    max_time_s: float = Field(120.0, gt=0, description="stop after this long even if max_steps is not reached")
    lr: float = Field(5e-5, gt=0)
    batch_size: int = Field(16, gt=0)
    seed: int = 0


class PruneAutoSpec(StrictModel):
    """Pruned candidates beside the unpruned artifacts, for ``precision: auto`` and ``build --device`` to choose
    among: the level set above, plus every combination of these (each costs a prune and a distillation)."""

    ratios: list[float] = Field(default_factory=list, description="more width ratios to try (each in (0, 1))")
    drop_blocks: list[int] = Field(default_factory=list, description="more counts of whole blocks to drop")

    @field_validator("ratios")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        if any(not 0 < r < 1 for r in value):
            raise ValueError("prune.auto.ratios are fractions strictly between 0 and 1 (e.g. [0.2, 0.35])")
        return value

    @field_validator("drop_blocks")
    @classmethod
    def _counts(cls, value: list[int]) -> list[int]:
        if any(n < 0 for n in value):
            raise ValueError("prune.auto.drop_blocks are counts of blocks, 0 or more (e.g. [0, 2])")
        return value


class PruneSpec(StrictModel):
    """Pruning before export (edgeconv.compress.prune); the reference stays the unpruned model."""

    mode: Literal["unstructured", "structured", "2:4"]
    ratio: float | None = Field(None, gt=0, lt=1, description="fraction removed; 2:4 is always 0.5")
    drop_blocks: int = Field(0, ge=0, description="structured: whole repeated blocks (transformer layers) removed "
                             "first, the least influential on the output first; ratio then prunes what remains")
    target: Literal["params", "macs"] = Field("params", description="structured: what ratio is a fraction of")
    importance: Literal["l1", "l2", "taylor"] = "l2"
    scope: Literal["global", "per_layer"] | None = Field(
        None, description="default: global for unstructured, per_layer (uniform) for structured")
    layers: list[str] | None = Field(None, description="module names or globs to prune (default: all Linear/Conv); "
                                     "with drop_blocks, names of the blocks left, renumbered from 0")
    ignore: list[str] = Field(default_factory=list, description="module names or globs never pruned")
    recover: RecoverSpec | None = None
    auto: PruneAutoSpec | None = Field(
        None, description="build the unpruned artifacts too, and each pruned level as a candidate: `precision: auto` "
        "and `build --device` then choose among them all (true: this level only)")

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        """``auto: true`` is every default; 2:4 always removes half the weights."""
        if isinstance(data, dict) and data.get("auto") is True:
            data = {**data, "auto": {}}
        elif isinstance(data, dict) and data.get("auto") is False:
            data = {**data, "auto": None}
        if isinstance(data, dict) and data.get("mode") == "2:4" and data.get("ratio") is None:
            return {**data, "ratio": 0.5}
        return data

    def levels(self) -> list[PruneSpec]:
        """``auto``'s pruned candidates: this level, then every (drop_blocks, ratio) combination it adds."""
        base = self.model_copy(update={"auto": None})
        if self.auto is None:
            return [base]
        blocks = self.auto.drop_blocks or [self.drop_blocks]
        ratios = self.auto.ratios or [self.ratio]
        found = [base]
        for n in blocks:
            for ratio in ratios:
                level = PruneSpec.model_validate({**base.model_dump(), "drop_blocks": n, "ratio": ratio})
                if level not in found:
                    found.append(level)
        return found

    @model_validator(mode="after")
    def _ratio_for_mode(self) -> PruneSpec:
        if self.mode == "2:4" and self.ratio != 0.5:
            raise ValueError("2:4 sparsity always removes half the weights: leave prune.ratio out")
        if self.drop_blocks and self.mode != "structured":
            raise ValueError(f"prune.drop_blocks removes whole blocks: it is structured pruning, not {self.mode}")
        if self.drop_blocks and self.recover is not None and self.recover.hidden_weight > 0:
            raise ValueError("prune.recover.hidden_weight matches student and teacher blocks by position, which "
                             "prune.drop_blocks shifts: set hidden_weight to 0 (logits only) with drop_blocks")
        if self.ratio is None and not self.drop_blocks:
            raise ValueError(f"prune.mode {self.mode} needs prune.ratio, a fraction between 0 and 1 (e.g. 0.3)"
                             + (", or prune.drop_blocks" if self.mode == "structured" else ""))
        if self.auto is not None:
            try:
                self.levels()
            except ValidationError as exc:
                raise ValueError(f"a prune.auto level is not valid: {exc.errors()[0]['msg']}") from None
        return self
