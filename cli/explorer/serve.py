"""`aitbc explorer serve`: the web explorer."""

from __future__ import annotations

from pathlib import Path

import click

from aitbc.cli.context import Context, pass_ctx
from aitbc.cli.explorer.decorators import node_option


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=18080, show_default=True)
@click.option("--blocks", default=20, show_default=True, help="Blocks on the front page.")
@click.option("--prometheus", default="", help="Prometheus URL: the network page also plots its series.")
@click.option("--log-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder of explorer.log (rotated) [env: AITBC_LOG_DIR; default: $AITBC_HOME/explorer].")
@click.option("--docs", is_flag=True, help="Also serve the API's Swagger UI at /api/docs (it loads from a public CDN).")
@node_option
@pass_ctx
def serve(ctx: Context, host: str, port: int, blocks: int, prometheus: str, log_dir: Path | None,
          docs: bool) -> None:
    """Serve the web explorer over the node's RPC until Ctrl-C."""
    from aitbc.explorer.web import ExplorerSettings, run

    ctx.progress(f"explorer on http://{host}:{port}/ reading {ctx.node}")
    run(ExplorerSettings(node=ctx.node, host=host, port=port, blocks=blocks, prometheus=prometheus,
                         log_dir=log_dir, docs=docs))
