"""Progress inside long steps: `steps` (a Task reports its steps to a context-variable listener, so loops deep in
compress/ and backends/ need no callback threaded through every layer) and `display` (the CLI draws them with an
ETA: a status line on a terminal, one line per step in CI logs)."""
