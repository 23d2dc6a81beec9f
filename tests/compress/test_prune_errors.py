"""Bad pruning input: one clear line and exit code 2, before any artifact is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgeconv.errors import ExitCode, SpecError
from edgeconv.spec import load_spec
from tests.conftest import write_spec

torch = pytest.importorskip("torch")


def spec_with(folder: Path, prune: dict) -> Path:
    return write_spec(folder, prune=prune)


@pytest.mark.parametrize(("prune", "words"), [
    ({"mode": "structured", "ratio": 1.5}, "less than 1"),
    ({"mode": "structured", "ratio": 0}, "greater than 0"),
    ({"mode": "unstructured"}, "needs prune.ratio"),
    ({"mode": "2:4", "ratio": 0.3}, "leave prune.ratio out"),
    ({"mode": "channels", "ratio": 0.3}, "mode"),
    ({"mode": "unstructured", "ratio": 0.3, "drop_blocks": 1}, "drop_blocks removes whole blocks"),
    ({"mode": "structured", "drop_blocks": -1}, "greater than or equal to 0"),
    ({"mode": "structured"}, "or prune.drop_blocks"),
    ({"mode": "structured", "drop_blocks": 1, "recover": {"train": {"path": "t.jsonl"}, "hidden_weight": 1}},
     "set hidden_weight to 0"),
])
def test_bad_prune_section_is_a_spec_error(tiny_project: Path, prune: dict, words: str) -> None:
    # tiny_project's model is ONNX: swap in a torch model path so only the prune section is wrong
    raw = yaml.safe_load((tiny_project / "edgeconv.yaml").read_text())
    raw["model"] = {"path": "model-folder", "source": "hf"}
    raw["prune"] = prune
    (tiny_project / "edgeconv.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError) as info:
        load_spec(tiny_project / "edgeconv.yaml")
    assert words in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_onnx_model_cannot_be_pruned(tiny_project: Path) -> None:
    with pytest.raises(SpecError, match="ONNX model cannot be pruned"):
        load_spec(spec_with(tiny_project, {"mode": "unstructured", "ratio": 0.3}))


def test_unknown_layer_names_the_closest() -> None:
    from edgeconv.compress.prune import prune_model
    from edgeconv.models.wrappers import FirstOutput
    from edgeconv.spec import PruneSpec
    from tests.compress.tiny_models import make_tiny_cnn

    spec = PruneSpec(mode="unstructured", ratio=0.3, layers=["3"], ignore=["3x"])
    with pytest.raises(SpecError) as info:
        prune_model(FirstOutput(make_tiny_cnn()), spec, (torch.zeros(1, 4, 8, 8),))
    assert "no layer is named '3x'" in str(info.value) and "closest: 3" in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_torchscript_cannot_be_structurally_pruned() -> None:
    from edgeconv.compress.prune import prune_model
    from edgeconv.models.wrappers import FirstOutput
    from edgeconv.spec import PruneSpec
    from tests.compress.tiny_models import make_tiny_cnn

    scripted = torch.jit.script(make_tiny_cnn())
    with pytest.raises(SpecError, match="TorchScript model cannot be pruned") as info:
        prune_model(FirstOutput(scripted), PruneSpec(mode="structured", ratio=0.3), (torch.zeros(1, 4, 8, 8),))
    assert info.value.exit_code == ExitCode.USAGE


def test_a_model_torch_pruning_cannot_follow_is_a_stage_error() -> None:
    """A forward that hard-codes a channel count (reshape to 4 x 4) breaks once DepGraph removes channels."""
    from torch import nn

    from edgeconv.compress.prune import prune_model
    from edgeconv.errors import StageError
    from edgeconv.models.wrappers import FirstOutput
    from edgeconv.spec import PruneSpec

    class FixedReshape(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(self.fc1(x).reshape(-1, 4, 4).flatten(1))

    with pytest.raises(StageError, match="Torch-Pruning could not prune this model") as info:
        prune_model(FirstOutput(FixedReshape()), PruneSpec(mode="structured", ratio=0.5), (torch.zeros(1, 8),))
    assert "\n" not in str(info.value) and "prune.mode unstructured" in info.value.fix


def test_bad_sweep_ratios_exit_2(tiny_project: Path) -> None:
    from click.testing import CliRunner

    from edgeconv.cli import Group
    from edgeconv.cli.prune import prune_command

    group = Group(commands={"prune": prune_command})
    result = CliRunner().invoke(group, ["prune", str(tiny_project / "edgeconv.yaml"), "--sweep", "0.2,1.2"])
    assert result.exit_code == ExitCode.USAGE
    assert "strictly between 0 and 1" in result.output
