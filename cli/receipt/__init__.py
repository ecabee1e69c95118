"""`aitbc receipt`: show, export and verify receipts; one module per command.

`aitbc receipt JOB_ID|RECEIPT_ID` shows one (through the coordinator, or from
the chain without an API key);
`export` writes a self-contained bundle (receipt, job, miner key, result);
`verify` checks signatures, hashes, attested options and payment, offline
where it can, and against the chain unless --offline.
"""

from __future__ import annotations

import click

from aitbc.cli.receipt.export import export
from aitbc.cli.receipt.show import show
from aitbc.cli.receipt.verify import verify


class DefaultToShow(click.Group):
    """`aitbc receipt X` means `aitbc receipt show X` unless X is a subcommand."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


@click.group("receipt", cls=DefaultToShow)
def receipt() -> None:
    """Show (default), export or verify a receipt: aitbc receipt [show|export|verify] JOB_ID|RECEIPT_ID."""


for _command in (show, export, verify):
    receipt.add_command(_command)
