"""The commands of this branch on a group shaped like edgeconv.cli.main (same error-to-exit-code mapping)."""

from __future__ import annotations

import click

from edgeconv.bundle.cli import bundle_group
from edgeconv.cli import Group
from edgeconv.compare.cli import compare_command


@click.group(cls=Group)
def cli() -> None:
    """Test entry point until the lead registers these commands on edgeconv.cli.main."""


cli.add_command(compare_command)
cli.add_command(bundle_group)
