"""What every `aitbc explorer` command is wrapped in: --node, --json, and chain errors as exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from aitbc.rpc import ChainError, NodeUnavailable
from aitbc.cli.context import CLIError, Context, NetworkError, json_option, pass_ctx
from aitbc.explorer import chain


def node_option(f):
    """`--node` on each subcommand too, as well as on the root group."""

    def set_node(ctx: click.Context, _param, value: str | None) -> None:
        if value:
            obj = ctx.ensure_object(Context)
            obj.node, obj._rpc = value, None

    return click.option("--node", "node_flag", default=None, expose_value=False, callback=set_node,
                        is_eager=True, help="CometBFT RPC address [env: AITBC_NODE]")(f)


def chain_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn explorer/RPC errors into the CLI's exit codes."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except chain.NotFound as err:
            raise CLIError(str(err)) from None
        except NodeUnavailable as err:
            raise NetworkError(f"{err}\nIs the node running? (--node/AITBC_NODE)") from None
        except ChainError as err:
            raise CLIError(str(err)) from None

    return wrapper


def explorer_command(name: str):
    """A subcommand with --node and --json, its chain errors mapped to exit codes."""

    def decorate(f):
        return click.command(name)(node_option(json_option(pass_ctx(chain_call(f)))))

    return decorate
