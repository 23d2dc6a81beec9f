"""`edgeconv init MODEL`: write a commented spec for MODEL that builds as it is where the files tell enough (one
library call, ``edgeconv.scaffold.init.init_spec``)."""

from __future__ import annotations

from pathlib import Path

import click

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
    from edgeconv.scaffold.init import init_spec

    draft = init_spec(model, spec_path, evaluation, calibration, task, adapter, force)
    todo = f"; {draft.todos} TODO line(s) to decide" if draft.todos else ""
    click.echo(f"wrote {spec_path}{todo}")
    click.echo(f"next: edgeconv build {spec_path}")
