"""The CLI's context object, built lazily from global options and environment."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from aitbc.keyring import Keyring
from aitbc.rpc import ChainRPC
from aitbc.cli import safe_text

DEFAULT_NODE = "http://127.0.0.1:26657"
DEFAULT_URL = "http://127.0.0.1:18000"


class CLIError(click.ClickException):
    """A domain error: message on stderr, exit code 1."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        # Messages quote the coordinator and the chain: no escape sequences reach the terminal.
        super().__init__(safe_text.terminal(message))


class NetworkError(CLIError):
    """The node or coordinator could not be reached."""

    exit_code = 3


class Rejected(CLIError):
    """The chain or the coordinator refused the request."""

    exit_code = 4


@dataclass
class Context:
    node: str = DEFAULT_NODE
    url: str = DEFAULT_URL
    api_key: str | None = None
    json_output: bool = False
    verbose: int = 0
    _rpc: ChainRPC | None = field(default=None, repr=False)
    _keyring: Keyring | None = field(default=None, repr=False)

    @property
    def rpc(self) -> ChainRPC:
        if self._rpc is None:
            self._rpc = ChainRPC(self.node)
        return self._rpc

    @property
    def keyring(self) -> Keyring:
        if self._keyring is None:
            self._keyring = Keyring()
        return self._keyring

    def emit(self, data: Any, human: str | None = None) -> None:
        """Print `data` as JSON with --json, else the human text (or JSON when none)."""
        if self.json_output or human is None:
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            click.echo(safe_text.terminal(human))

    def progress(self, message: str) -> None:
        if self.verbose >= 0:
            click.echo(safe_text.terminal(message), err=True)


pass_ctx = click.make_pass_decorator(Context)


def json_option(f):
    """`--json` on a subcommand, as well as on the root group."""

    def set_json(ctx: click.Context, _param, value: bool) -> None:
        if value:
            ctx.ensure_object(Context).json_output = True

    return click.option("--json", "json_flag", is_flag=True, expose_value=False, callback=set_json,
                        help="Print machine-readable JSON.")(f)


def _set_node(ctx: click.Context, _param, value: str | None) -> None:
    if value:
        obj = ctx.ensure_object(Context)
        obj.node, obj._rpc = value, None


def _set_url(ctx: click.Context, _param, value: str | None) -> None:
    if value:
        ctx.ensure_object(Context).url = value


def _set_api_key(ctx: click.Context, _param, value: str | None) -> None:
    if value:
        ctx.ensure_object(Context).api_key = value


def set_home(ctx: click.Context, _param, value: str | None) -> None:
    """`--home` means AITBC_HOME; set in the environment so that the keyring, the node and
    testnet folders, and the services a command starts all see it."""
    if value:
        os.environ["AITBC_HOME"] = str(Path(value).expanduser().resolve())
        obj = ctx.ensure_object(Context)
        obj._keyring = None


def _after_subcommand(name: str, callback, help_text: str, **kwargs) -> click.Option:
    # expose_value=False: the commands read the Context, so any command can take the option.
    return click.Option([name], default=None, expose_value=False, callback=callback, is_eager=True,
                        help=help_text, **kwargs)


def global_options(command: click.Command) -> None:
    """The root group's --node, --url, --api-key and --home, also accepted after any subcommand
    (`aitbc audit --node X` as `aitbc --node X audit`, and between a group and its command:
    `aitbc receipt --node X JOB_ID`); a command's own option of that name wins."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            global_options(sub)
    taken = {opt for param in command.params for opt in param.opts}
    for option in (
        _after_subcommand("--node", _set_node, "CometBFT RPC address [env: AITBC_NODE]"),
        _after_subcommand("--url", _set_url, "Coordinator URL [env: AITBC_URL]"),
        _after_subcommand("--api-key", _set_api_key, "Coordinator API key [env: AITBC_API_KEY]"),
        _after_subcommand("--home", set_home, "AITBC home: keys, node, testnet [env: AITBC_HOME; default: ~/.aitbc]",
                          type=click.Path(file_okay=False)),
    ):
        if option.opts[0] not in taken:
            command.params.append(option)


def stderr(message: str) -> None:
    print(message, file=sys.stderr)
