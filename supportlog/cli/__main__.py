"""`python -m supportlog.cli ARGS`: the same as the `supportlog` command."""

from supportlog.cli import entry_point

entry_point()
