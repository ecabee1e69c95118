"""`aitbc gateway`: the OpenAI-compatible API on this machine, paying with a local key."""

from __future__ import annotations

import ipaddress

import click

from aitbc.cli.context import Context, pass_ctx
from aitbc.cli.jobs.coordinator import load_key
from aitbc.cli.gateway.options import open_gateway, payment_options


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("gateway")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anyone who reaches it spends KEY's funds: keep it on loopback.")
@payment_options
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@pass_ctx
def gateway(ctx: Context, port: int, host: str, key_name: str, max_reward: str, max_price: str, timeout: float,
            log_level: str) -> None:
    """Serve OpenAI's API (/v1/chat/completions, /v1/completions, /v1/models) on this machine.

    Each request becomes one marketplace job whose escrow is signed here with
    KEY (no one else ever holds it); every answer is checked against its
    receipt on chain (--node) before it is returned. Point any OpenAI client
    at it: base_url http://127.0.0.1:8080/v1, any api_key. Jobs go through the
    coordinator at --url with --api-key.
    """
    import uvicorn

    from aitbc.gateway.app import create_app

    if not _loopback(host):
        ctx.progress(f"warning: listening on {host}: anyone who can reach it spends the funds of key {key_name!r}")
    gw = open_gateway(ctx, key_name, max_reward, max_price, timeout)
    ctx.progress(f"gateway on http://{host}:{port}/v1 (jobs via {ctx.url}, paid by key {key_name} "
                 f"{load_key(ctx, key_name).address}, receipts checked on {ctx.node})")
    try:
        uvicorn.run(create_app(gw), host=host, port=port, log_level=log_level)
    finally:
        gw.close()
