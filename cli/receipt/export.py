"""`aitbc receipt export`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aitbc.cli.context import Context, pass_ctx
from aitbc.cli.receipt.bundle import build_bundle


@click.command("export")
@click.argument("ident", metavar="JOB_ID|RECEIPT_ID")
@click.option("--prompt", default=None, help="The prompt, to include and check against its hash.")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write [default: stdout].")
@pass_ctx
def export(ctx: Context, ident: str, prompt: str | None, out: Path | None) -> None:
    """Write a receipt bundle that `aitbc receipt verify FILE --offline` can check."""
    text = json.dumps(build_bundle(ctx, ident, prompt), indent=2)
    if out:
        out.write_text(text + "\n")
        ctx.progress(f"wrote {out}")
    else:
        click.echo(text)
