"""The `aitbc` command: keys, a local node, chain transactions and queries,
jobs through the coordinator, and the services themselves."""

from __future__ import annotations

import os

import click

from aitbc.cli.audit import audit
from aitbc.cli.context import DEFAULT_NODE, DEFAULT_URL, Context, global_options, set_home
from aitbc.cli.explorer import explorer
from aitbc.cli.gateway import COMMANDS as GATEWAY_COMMANDS
from aitbc.cli.jobs import COMMANDS as JOB_COMMANDS
from aitbc.cli.keys import keys
from aitbc.cli.node import node
from aitbc.cli.query import query
from aitbc.cli.receipt import receipt
from aitbc.cli.testnet import testnet
from aitbc.cli.tx import tx
from aitbc.coordinator.cli import coordinator
from aitbc.miner.cli import miner


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--node", envvar="AITBC_NODE", default=DEFAULT_NODE, show_default=True,
              help="CometBFT RPC address [env: AITBC_NODE]")
@click.option("--url", envvar="AITBC_URL", default=DEFAULT_URL, show_default=True,
              help="Coordinator URL [env: AITBC_URL]")
@click.option("--api-key", envvar="AITBC_API_KEY", default=None,
              help="Coordinator API key [env: AITBC_API_KEY or CLIENT_KEY]")
@click.option("--home", envvar="AITBC_HOME", default=None, expose_value=False, callback=set_home, is_eager=True,
              type=click.Path(file_okay=False),
              help="AITBC home: keys, node, testnet [env: AITBC_HOME; default: ~/.aitbc]")
@click.option("--json", "json_output", is_flag=True, help="Print machine-readable JSON.")
@click.option("-v", "--verbose", count=True, help="More output on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output on stderr.")
@click.version_option("0.1.0", prog_name="aitbc")
@click.pass_context
def cli(ctx: click.Context, node: str, url: str, api_key: str | None, json_output: bool, verbose: int,
        quiet: bool) -> None:
    """AITBC: an open marketplace for AI inference settled on a CometBFT chain."""
    obj = ctx.ensure_object(Context)
    # Options after the subcommand (global_options) are parsed later and win over these.
    if node != obj.node:
        obj.node, obj._rpc = node, None
    obj.url = url
    obj.api_key = api_key or os.environ.get("CLIENT_KEY")
    obj.json_output = obj.json_output or json_output
    obj.verbose = -1 if quiet else verbose


# Every command of the client, registered the same way; each also takes the root's
# connection options after its name (global_options).
CLIENT_COMMANDS = (keys, node, tx, query, audit, receipt, testnet, explorer, *JOB_COMMANDS, *GATEWAY_COMMANDS)
# The services' own commands: they have their own --node/--data-dir.
SERVICE_COMMANDS = (miner, coordinator)

for _command in CLIENT_COMMANDS:
    global_options(_command)
    cli.add_command(_command)
for _command in SERVICE_COMMANDS:
    cli.add_command(_command)


def main() -> None:
    cli(obj=Context())


if __name__ == "__main__":
    main()
