"""`aitbc testnet`: N validators (plus optional coordinator and miners) on this machine; one module per command."""

from __future__ import annotations

import click

from aitbc.cli.testnet.down import down
from aitbc.cli.testnet.env import env
from aitbc.cli.testnet.init import init
from aitbc.cli.testnet.start_node import start_node
from aitbc.cli.testnet.status import status
from aitbc.cli.testnet.stop_node import stop_node
from aitbc.cli.testnet.up import up


@click.group()
def testnet() -> None:
    """Run a local N-validator chain (one app and one cometbft per node, on 127.0.0.1), or write
    the node homes of a network across hosts (`init --hosts`)."""


for _command in (up, status, env, stop_node, start_node, down, init):
    testnet.add_command(_command)
