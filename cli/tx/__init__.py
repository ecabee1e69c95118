"""`aitbc tx`: sign locally, broadcast straight to the node's RPC; one module per tx command."""

from __future__ import annotations

import click

from aitbc.cli.tx.assign_job import assign_job
from aitbc.cli.tx.cancel_job import cancel_job
from aitbc.cli.tx.decline_job import decline_job
from aitbc.cli.tx.dispute_result import dispute_result
from aitbc.cli.tx.fail_job import fail_job
from aitbc.cli.tx.record_receipt import record_receipt
from aitbc.cli.tx.register_coordinator import register_coordinator
from aitbc.cli.tx.register_miner import register_miner
from aitbc.cli.tx.share_job_key import share_job_key
from aitbc.cli.tx.submit_job import submit_job
from aitbc.cli.tx.transfer import transfer
from aitbc.cli.tx.unbond import unbond
from aitbc.cli.tx.unregister_coordinator import unregister_coordinator
from aitbc.cli.tx.update_miner import update_miner


@click.group()
def tx() -> None:
    """Sign a transaction locally and broadcast it to the node."""


for _command in (transfer, register_miner, update_miner, unbond, submit_job, cancel_job, assign_job, fail_job,
                 record_receipt, decline_job, share_job_key, dispute_result, register_coordinator,
                 unregister_coordinator):
    tx.add_command(_command)
