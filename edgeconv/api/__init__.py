"""The library entry points of a build: plan it, build it, export only, or verify an artifact built elsewhere.

The modules beside this one orchestrate a build: ``pipeline`` (the matrix, building and judging rows),
``outcome`` (the reports, the ``--baseline`` gate, the exit code), ``session`` (data, the fp32 reference),
``prepare`` (the model's description and checked feeds), ``measure`` (one artifact through its verify stage),
``prune_levels`` / ``prune_stage`` / ``sweep`` (pruned candidates), ``sensitivity`` (``quantize --sensitivity``),
``shard``, ``device_class`` and ``device_assets``.
"""

from edgeconv.api.outcome import exit_code
from edgeconv.api.pipeline import Plan, build, export_only, plan, verify_artifact

__all__ = ["Plan", "build", "exit_code", "export_only", "plan", "verify_artifact"]
