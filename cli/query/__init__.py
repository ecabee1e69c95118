"""`aitbc query`: the chain's state through abci_query; one module per query command."""

from __future__ import annotations

import click

from aitbc.cli.query.account import account
from aitbc.cli.query.coordinator import coordinator
from aitbc.cli.query.coordinators import coordinators
from aitbc.cli.query.job import job
from aitbc.cli.query.job_result import job_result
from aitbc.cli.query.miner import miner
from aitbc.cli.query.miners import miners
from aitbc.cli.query.params import params
from aitbc.cli.query.receipt import receipt
from aitbc.cli.query.supply import supply


@click.group()
def query() -> None:
    """Read the chain's state through abci_query (text; --json for the JSON the node answers)."""


for _command in (account, job, job_result, receipt, miner, miners, coordinator, coordinators, params, supply):
    query.add_command(_command)
