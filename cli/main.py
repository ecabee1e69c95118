"""The `aitbc` command: keys, a local node, chain transactions and queries,
jobs through the coordinator, and the services themselves."""

from __future__ import annotations

import os

import click

from aitbc.cli import audit, chain, explorer, jobs, keys, node, receipts, testnet
from aitbc.coordinator.cli import coordinator
from aitbc.miner.cli import miner
from aitbc.cli.context import DEFAULT_NODE, DEFAULT_URL, Context, global_options, set_home


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


cli.add_command(keys.keys)
cli.add_command(node.node)
cli.add_command(chain.tx)
cli.add_command(chain.query)
cli.add_command(audit.audit)
cli.add_command(miner)
cli.add_command(coordinator)
jobs.register(cli)
cli.add_command(receipts.receipt)
cli.add_command(testnet.testnet)
cli.add_command(explorer.explorer)
# Not on the coordinator's and miner's commands: they have their own --node/--data-dir.
for _group in (keys.keys, node.node, chain.tx, chain.query, audit.audit, receipts.receipt, testnet.testnet,
               explorer.explorer, *(jobs.COMMANDS)):
    global_options(_group)


def main() -> None:
    cli(obj=Context())


if __name__ == "__main__":
    main()
