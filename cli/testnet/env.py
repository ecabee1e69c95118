"""`aitbc testnet env`: shell lines that point the CLI at the testnet."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from aitbc.ops import testnet as tn
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.testnet.folder import DIR, load


@click.command("env")
@DIR
@click.option("--index", type=int, default=0, show_default=True, help="Which node's RPC AITBC_NODE names.")
@json_option
@pass_ctx
def env(ctx: Context, directory: Path | None, index: int) -> None:
    """Shell lines that point the CLI at the testnet: eval "$(aitbc testnet env)".

    Sets AITBC_NODE, and with a coordinator AITBC_URL and AITBC_API_KEY (its client key)."""
    net = load(directory)
    try:
        values = {"AITBC_NODE": net.node(index).rpc}
    except tn.NetError as err:
        raise CLIError(str(err)) from None
    coordinator = net.data.get("services", {}).get("coordinator")
    if coordinator and coordinator.get("ok"):
        values["AITBC_URL"] = coordinator["url"]
        if coordinator.get("client_api_key"):
            values["AITBC_API_KEY"] = coordinator["client_api_key"]
    ctx.emit(values, "\n".join(f"export {k}={shlex.quote(v)}" for k, v in values.items()))
