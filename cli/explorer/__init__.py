"""`aitbc explorer`: blocks, txs, jobs, receipts, accounts and miners, decoded,
from any node (--node / AITBC_NODE); `serve` runs the web explorer. One module per command."""

from __future__ import annotations

import click

from aitbc.cli.explorer.account import account
from aitbc.cli.explorer.block import block
from aitbc.cli.explorer.blocks import blocks
from aitbc.cli.explorer.decorators import node_option
from aitbc.cli.explorer.job import job
from aitbc.cli.explorer.miners import miners
from aitbc.cli.explorer.receipt import receipt
from aitbc.cli.explorer.search import search
from aitbc.cli.explorer.serve import serve
from aitbc.cli.explorer.tx import tx


@click.group()
@node_option
def explorer() -> None:
    """Look into the chain: decoded blocks, txs, jobs, receipts, accounts, miners."""


for _command in (blocks, block, tx, job, receipt, account, miners, search, serve):
    explorer.add_command(_command)
