from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakebuild import make_build


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_build(tmp_path_factory.mktemp("bundle") / "out")
