"""`aitbc testnet status`: per node height, peers and the app hash at the common height."""

from __future__ import annotations

from pathlib import Path

import click

from aitbc.ops import testnet as tn
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.tables import columns
from aitbc.cli.testnet.folder import DIR, load


@click.command("status")
@DIR
@json_option
@pass_ctx
def status(ctx: Context, directory: Path | None) -> None:
    """Per node: height, app hash at the common height, peers, validator or not."""
    data = tn.status(load(directory))
    rows = [[f"node{n['index']}", n["rpc"], str(n.get("height", "down")), str(n.get("peers", "-")),
             {True: "yes", False: "no"}.get(n.get("validator"), "-"), n.get("app_hash", "-") or "-"]
            for n in data["nodes"]]
    up = [n for n in data["nodes"] if n["up"]]
    data["down"] = not up
    human = (f"chain {data['chain_id']} in {data['directory']}\n"
             + columns(["node", "rpc", "height", "peers", "validator", f"app hash @ {data['common_height']}"], rows))
    if up:
        agree = "all agree" if data["app_hash_agrees"] else "DIFFERENT APP HASHES"
        down = len(data["nodes"]) - len(up)
        human += (f"\napp hash at height {data['common_height']}: {agree}"
                  + (f" ({len(up)} of {len(data['nodes'])} nodes up)" if down else ""))
    for service in data["services"].values():
        for entry in service if isinstance(service, list) else [service]:
            state = "running" if tn.alive(entry.get("pid"), data["directory"]) else "stopped"
            human += f"\n{entry['name']}: {entry.get('url', '')} {state}"
    ctx.emit(data, human)
    if not up:  # nothing to compare: a script asking "is my testnet fine?" must hear no
        raise CLIError(f"the testnet in {data['directory']} is down: no node answers "
                       f"(`aitbc testnet up --dir {data['directory']}` starts it again)")
