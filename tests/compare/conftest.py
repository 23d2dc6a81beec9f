from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakebuild import make_build


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A baseline, a rebuild of it (other timing seed), an accuracy drop, and a slower candidate."""
    root = tmp_path_factory.mktemp("builds")
    return {
        "base": make_build(root / "base", timing_seed=1),
        "same": make_build(root / "same", timing_seed=2),
        "drop": make_build(root / "drop", timing_seed=3, flip_fraction=0.05),
        "slow": make_build(root / "slow", timing_seed=4, latency_scale=1.5),
    }
