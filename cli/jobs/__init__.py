"""`aitbc submit|status|wait|balance|jobs|cancel`: jobs through the coordinator, one module per command.

They are commands of the root group itself (no `aitbc jobs ...` group): main.py
registers each of COMMANDS like any other command.
"""

from __future__ import annotations

from aitbc.cli.jobs.balance import balance
from aitbc.cli.jobs.cancel import cancel
from aitbc.cli.jobs.list_jobs import jobs
from aitbc.cli.jobs.status import status
from aitbc.cli.jobs.submit import submit
from aitbc.cli.jobs.wait import wait_cmd

COMMANDS = (submit, status, wait_cmd, balance, jobs, cancel)
