"""Every command line in the README's ```bash blocks names a real subcommand with real options:
each `aitbc ...` line is resolved through the click tree (subcommands, options, whether an option
takes a value) and its `--help` is invoked; `python -m` lines are checked against their `--help`.
The chain and marketplace blocks are also run for real in tests/integration/test_readme.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from aitbc.cli.context import Context
from aitbc.cli.main import cli
from tests.readme_blocks import bash_blocks, command_lines

ROOT = Path(__file__).resolve().parents[2]
LINES = [c for _heading, block in bash_blocks() for c in command_lines(block)]


def _option(commands: list[click.Command], name: str) -> click.Parameter | None:
    for command in reversed(commands):  # the innermost command's option, else a parent group's
        for param in command.params:
            if isinstance(param, click.Option) and name in param.opts + param.secondary_opts:
                return param
    return None


def resolve(tokens: list[str]) -> list[str]:
    """The subcommand path of `aitbc TOKENS`; fails on an unknown subcommand or option."""
    chain: list[click.Command] = [cli]
    path: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-"):
            name = token.split("=", 1)[0]
            option = _option(chain, name)
            assert option is not None, f"`aitbc {' '.join(tokens)}`: no option {name} on `aitbc {' '.join(path)}`"
            if not option.is_flag and option.count is False and "=" not in token:
                i += 1  # its value
        elif isinstance(chain[-1], click.Group):
            group = chain[-1]
            sub = group.get_command(click.Context(group), token)
            if sub is None:
                _name, sub, _args = group.resolve_command(click.Context(group), [token])  # a default subcommand
                assert sub is not None, f"`aitbc {' '.join(tokens)}`: no subcommand {token}"
                chain.append(sub)
                path.append(sub.name)
                continue  # the token is the default subcommand's argument
            chain.append(sub)
            path.append(token)
        i += 1
    assert not isinstance(chain[-1], click.Group), f"`aitbc {' '.join(tokens)}` names a group, not a command"
    return path


def test_the_readme_has_command_lines():
    assert len([c for c in LINES if c[0] == "aitbc"]) >= 30


@pytest.mark.parametrize("tokens", [c[1:] for c in LINES if c[0] == "aitbc"], ids=lambda t: " ".join(t)[:60])
def test_each_aitbc_line_parses(tokens):
    path = resolve(tokens)
    result = CliRunner().invoke(cli, [*path, "--help"], obj=Context(), catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("tokens", [c for c in LINES if c[0] == "python"], ids=lambda t: " ".join(t)[:60])
def test_each_python_line_has_its_options(tokens):
    helped = subprocess.run([sys.executable, *tokens[1:3], "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert helped.returncode == 0, helped.stderr
    for option in (t.split("=", 1)[0] for t in tokens[3:] if t.startswith("--")):
        assert option in helped.stdout, f"{' '.join(tokens)}: no {option} in --help"
