"""`edgeconv init MODEL` as one library call: read the model and its data, draft the spec, check it, write it."""

from __future__ import annotations

from pathlib import Path

from edgeconv.errors import SpecError
from edgeconv.scaffold.draft import Draft


def init_spec(model: str, spec_path: Path, evaluation: Path | None = None, calibration: Path | None = None,
              task: str | None = None, adapter: Path | None = None, force: bool = False) -> Draft:
    """Inspect ``model`` (a Hugging Face folder, an ONNX, TorchScript or torch.export file, or pkg://...) and its
    data, and write a commented spec to ``spec_path``: the fields the files decide are filled in, TODO marks the
    rest. Returns the draft (``draft.todos``: how many TODO lines are left to decide)."""
    import yaml
    from pydantic import ValidationError

    from edgeconv.fsutil import write_text
    from edgeconv.scaffold.data_facts import inspect_data
    from edgeconv.scaffold.model_facts import check_npz_inputs, inspect_model, read_torch_output
    from edgeconv.scaffold.render import render_spec
    from edgeconv.spec import Spec

    facts = inspect_model(model)
    if spec_path.exists() and not force:
        raise SpecError(f"'{spec_path}' exists", fix="pass --force to overwrite it, or --out another path")
    evaluation_facts = inspect_data(evaluation) if evaluation else None
    if facts.kind in ("torchscript", "torch-export") and evaluation_facts is not None and not task \
            and evaluation_facts.format == "npz" and evaluation_facts.labelled:  # labels: a classifier, if [batch, C]
        read_torch_output(facts, evaluation_facts)
    calibration_facts = inspect_data(calibration) if calibration else None
    if evaluation_facts is not None and facts.kind == "onnx":  # arrays the model cannot take: exit 2, nothing written
        check_npz_inputs(facts, evaluation_facts)
    if calibration_facts is not None:  # against the ONNX file's inputs, or a torch file's declared from --data
        check_npz_inputs(facts, calibration_facts, evaluation_facts)
    if evaluation and calibration and evaluation.resolve() == calibration.resolve():
        raise SpecError("--calibration is the evaluation set: int8 ranges fitted to it flatter the results",
                        fix="give a separate set of representative inputs")
    if adapter is not None and not (adapter / "adapter_config.json").is_file():
        raise SpecError(f"--adapter '{adapter}' has no adapter_config.json", fix="give a PEFT adapter folder")
    draft = render_spec(facts, evaluation_facts, calibration_facts, spec_path, task, adapter)
    text = draft.text()
    try:  # what init writes must be a valid spec: a failure here is edgeconv's bug, not the user's
        Spec.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise AssertionError(f"edgeconv init wrote an invalid spec: {exc}") from exc
    write_text(spec_path, text)
    return draft
