"""`aitbc balance`: an account as the coordinator sees it, mempool included."""

from __future__ import annotations

import os

import click

from aitbc import crypto, units
from aitbc.cli.context import Context, json_option, pass_ctx
from aitbc.cli.jobs.coordinator import coordinator, load_key


@click.command("balance")
@click.argument("who", required=False, metavar="[ADDRESS|KEY]")
@json_option
@pass_ctx
def balance(ctx: Context, who: str | None) -> None:
    """Balance and next nonce of an address or a local key (default: AITBC_FROM or alice)."""
    who = who or os.environ.get("AITBC_FROM") or "alice"
    address = who if crypto.is_address(who) else load_key(ctx, who).address
    with coordinator(ctx) as client:
        account = client.account(address)
    pending = "" if account.pending_balance == account.balance else \
        f"\nPending: {units.format_amount(account.pending_balance)} (after txs in the mempool)"
    ctx.emit(account.model_dump(mode="json"),
             f"Address: {address}\nBalance: {units.format_amount(account.balance)}{pending}\nNonce:   {account.nonce}")
