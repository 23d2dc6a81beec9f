"""The commands of this branch on a group shaped like edgeconv.cli.main (same error-to-exit-code mapping)."""

from __future__ import annotations

import click

from edgeconv.cli import Group
from edgeconv.cli.bundle import bundle_group
from edgeconv.cli.compare import compare_command


@click.group(cls=Group)
def cli() -> None:
    """Test entry point until the lead registers these commands on edgeconv.cli.main."""


cli.add_command(compare_command)
cli.add_command(bundle_group)


def run_full_cli() -> None:
    """`edgeconv` with this branch's commands added, for running the CI examples' scripts end to end."""
    from edgeconv.cli import main

    main.add_command(compare_command)
    main.add_command(bundle_group)
    main()


if __name__ == "__main__":
    run_full_cli()
