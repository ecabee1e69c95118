"""`aitbc node`: a local single-node chain (cometbft + our ABCI app); one module per command."""

from __future__ import annotations

import click

from aitbc.cli.node.init import init
from aitbc.cli.node.join import join
from aitbc.cli.node.start import start
from aitbc.cli.node.status import status


@click.group()
def node() -> None:
    """Create and run a local single-node chain."""


for _command in (init, join, start, status):
    node.add_command(_command)
