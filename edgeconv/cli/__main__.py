"""`python -m edgeconv.cli`: the same commands as the `edgeconv` script."""

from edgeconv.cli import main

main()
