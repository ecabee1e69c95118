"""`aitbc node start`: the app and cometbft in the foreground until Ctrl-C."""

from __future__ import annotations

import os
from pathlib import Path

import click

from aitbc.ops import nodehome
from aitbc.ops.tools import ToolMissing
from aitbc.cli.context import CLIError, Context, pass_ctx
from aitbc.cli.node.home import HOME, default_home


@click.command("start")
@HOME
@pass_ctx
def start(ctx: Context, home: Path | None) -> None:
    """Run the app and cometbft until Ctrl-C; logs in HOME/logs."""
    home = home or default_home()
    _check_startable(home)
    runner = nodehome.Node(home)
    try:
        runner.start()
    except (ToolMissing, RuntimeError, TimeoutError) as err:
        runner.stop()
        raise CLIError(str(err)) from None
    pid_file = home / nodehome.PID_FILE
    pid_file.write_text(f"{os.getpid()}\n")
    ctx.progress(f"node running: RPC {runner.rpc}, logs in {home / 'logs'} (Ctrl-C to stop)")
    try:
        died = runner.run_forever()
    finally:
        pid_file.unlink(missing_ok=True)
    if died:
        raise CLIError(f"node stopped: {died} (see {home / 'logs'})")
    ctx.progress("node stopped")


def _check_startable(home: Path) -> None:
    """A node home that is not running, on ports nobody else holds. Raises CLIError."""
    if not (home / "node.json").exists():
        raise CLIError(f"no node home at {home}: run `aitbc node init` first")
    pid = nodehome.running_pid(home)
    if pid:
        raise CLIError(f"the node in {home} is already running, pid {pid} (RPC {nodehome.rpc_url(home)})")
    busy = nodehome.busy_ports(home)
    if busy:
        # Started anyway, our processes would die on bind while the stranger answers our readiness checks.
        raise CLIError("already in use: " + ", ".join(f"port {port} ({name})" for name, port in busy.items())
                       + f"; another node runs on them (stop it, or init a home with other ports)")
