"""Spec sections about how a build runs rather than what it builds: latency measurement and the remote cache."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from edgeconv.spec.base import StrictModel


class LatencySpec(StrictModel):
    warmup: int = Field(20, ge=0)
    runs: int = Field(200, gt=10)
    min_time_s: float = Field(1.0, ge=0)
    batch_size: int = Field(1, gt=0)
    # real: text examples timed at their own length where the runtime takes a dynamic sequence axis (what users
    # send); max: at the padded length (the worst case). Both are reported; this one ranks and meets the budgets.
    shape: Literal["real", "max"] = "real"
    # Length buckets for static-shape runtimes (LiteRT): auto picks up to 3 edges from the data's token lengths
    # (the last is text.max_length), a list sets them by hand, none converts at the padded length alone.
    buckets: Literal["auto", "none"] | list[int] = "auto"

    @field_validator("buckets")
    @classmethod
    def _ascending(cls, value: str | list[int]) -> str | list[int]:
        if isinstance(value, list) and (not value or any(b <= 0 for b in value) or value != sorted(set(value))):
            raise ValueError(f"latency.buckets {value} must be ascending positive token lengths, e.g. [16, 32, 64]")
        return value


class CacheSpec(StrictModel):
    """A remote stage cache shared by every runner: ``s3://bucket/prefix`` (or any fsspec URL such as
    ``gs://`` or ``file://``). Credentials come from the environment (AWS_* variables, ~/.aws), never the spec."""

    url: str

    @field_validator("url")
    @classmethod
    def _is_url(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9+.-]*://\S+$", value):
            raise ValueError(f"cache.url '{value}' is not a URL such as s3://bucket/prefix")
        return value
