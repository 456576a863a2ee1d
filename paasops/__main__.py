"""`python -m paasops`: the same as the `paasops` command."""

from paasops.cli.main import app

app(prog_name="paasops")
