"""`edgeconv init MODEL`: write a commented spec for MODEL that builds as it is where the files tell enough."""

from __future__ import annotations

from pathlib import Path

import click

from edgeconv.errors import SpecError

TASKS = ("text-classification", "image-classification", "classification", "detection", "segmentation", "generic")


@click.command("init")
@click.argument("model")
@click.option("--data", "evaluation", type=click.Path(path_type=Path),
              help="Labelled evaluation examples (.jsonl/.csv, .npz, or a folder of images).")
@click.option("--calibration", type=click.Path(path_type=Path),
              help="Representative inputs for static int8 (a different set from --data).")
@click.option("--task", type=click.Choice(TASKS), help="The task, when the files do not say.")
@click.option("--adapter", type=click.Path(path_type=Path),
              help="A PEFT (LoRA) adapter folder merged onto MODEL at load time.")
@click.option("--out", "spec_path", type=click.Path(path_type=Path), default=Path("edgeconv.yaml"),
              show_default=True, help="Where to write the spec.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def init_command(model: str, evaluation: Path | None, calibration: Path | None, task: str | None,
                 adapter: Path | None, spec_path: Path, force: bool) -> None:
    """Inspect MODEL (a Hugging Face folder, an ONNX, TorchScript or torch.export file, or pkg://...) and its
    data, and write a commented spec: the fields the files decide are filled in, TODO marks the rest."""
    import yaml
    from pydantic import ValidationError

    from edgeconv.fsutil import write_text
    from edgeconv.scaffold.data_facts import inspect_data
    from edgeconv.scaffold.model_facts import inspect_model, read_torch_output
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
    todo = f"; {draft.todos} TODO line(s) to decide" if draft.todos else ""
    click.echo(f"wrote {spec_path}{todo}")
    click.echo(f"next: edgeconv build {spec_path}")
