"""What `aitbc gateway` and `aitbc chat` share: which key pays, how much a job may lock, and the Gateway."""

from __future__ import annotations

import click

from aitbc import units
from aitbc.cli.context import Context
from aitbc.cli.jobs.coordinator import load_key
from aitbc.cli.jobs.submit import parse_reward
from aitbc.gateway.core import Gateway
from aitbc.gateway.coordinator_backend import gateway_via_coordinator


def payment_options(f):
    """--key, --max-reward, --max-price, --timeout."""
    for option in reversed((
        click.option("--key", "key_name", envvar="AITBC_FROM", default="alice", show_default=True,
                     help="Local key that signs and pays for every job; it never leaves this machine "
                          "[env: AITBC_FROM]"),
        click.option("--max-reward", default="1aitbc", show_default=True,
                     help="Most one request pays; locked in escrow per job, the unused rest refunded."),
        click.option("--max-price", default="0", show_default=True,
                     help="Most you accept per compute second, e.g. 0.02aitbc (0: no cap)."),
        click.option("--timeout", type=float, default=300, show_default=True,
                     help="Seconds a request may wait for its job."),
    )):
        f = option(f)
    return f


def open_gateway(ctx: Context, key_name: str, max_reward: str, max_price: str, timeout: float) -> Gateway:
    """The gateway's logic for ctx's coordinator (--url, --api-key) and node (--node), paying with KEY."""
    reward = parse_reward(max_reward)
    try:
        price_cap = units.parse_amount(max_price)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--max-price") from None
    return gateway_via_coordinator(ctx.url, ctx.api_key, ctx.node, load_key(ctx, key_name), reward, price_cap,
                                   timeout)
