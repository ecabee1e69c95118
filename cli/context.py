"""The CLI's context object, built lazily from global options and environment."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import click

from aitbc.keyring import Keyring
from aitbc.rpc import ChainRPC

DEFAULT_NODE = "http://127.0.0.1:26657"
DEFAULT_URL = "http://127.0.0.1:18000"


class CLIError(click.ClickException):
    """A domain error: message on stderr, exit code 1."""

    exit_code = 1


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
            click.echo(human)

    def progress(self, message: str) -> None:
        if self.verbose >= 0:
            click.echo(message, err=True)


pass_ctx = click.make_pass_decorator(Context)


def json_option(f):
    """`--json` on a subcommand, as well as on the root group."""

    def set_json(ctx: click.Context, _param, value: bool) -> None:
        if value:
            ctx.ensure_object(Context).json_output = True

    return click.option("--json", "json_flag", is_flag=True, expose_value=False, callback=set_json,
                        help="Print machine-readable JSON.")(f)


def stderr(message: str) -> None:
    print(message, file=sys.stderr)
