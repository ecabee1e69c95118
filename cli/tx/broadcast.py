"""Build, sign and broadcast one tx: what every `aitbc tx` command does."""

from __future__ import annotations

from typing import Any

from aitbc import tx as txlib
from aitbc.crypto import PrivateKey
from aitbc.keyring import KeyError_
from aitbc.rpc import NodeUnavailable, RPCError
from aitbc.cli.chain_access import chain_query
from aitbc.cli.context import CLIError, Context, NetworkError, Rejected


def send(ctx: Context, signer: str, kind: str, mode: str, memo: str = "", **fields: Any) -> dict[str, Any]:
    """Build, sign and broadcast a tx of `kind`; exits non-zero when rejected."""
    key = signing_key(ctx, signer)
    params = chain_query(ctx, "/params")
    nonce = chain_query(ctx, f"/nonce/{key.address}")["nonce"]
    raw = txlib.build(key, params["chain_id"], nonce, kind, memo=memo, **fields)
    return broadcast_signed(ctx, raw, kind, key.address, mode)


def signing_key(ctx: Context, signer: str) -> PrivateKey:
    """The key named `signer` (name or address) from the keyring, or a CLI error."""
    try:
        return ctx.keyring.get(signer)
    except KeyError_ as err:
        raise CLIError(str(err)) from None


def broadcast_signed(ctx: Context, raw: bytes, kind: str, signer: str, mode: str, quiet: bool = False
                     ) -> dict[str, Any]:
    """Broadcast a signed tx and print what the node says (unless `quiet`); exits non-zero when rejected."""
    try:
        result = ctx.rpc.broadcast(raw, mode)
    except NodeUnavailable as err:
        raise NetworkError(str(err)) from None
    except RPCError as err:
        if "already exists in cache" in str(err):
            raise Rejected("the node has already seen this exact transaction (replay)") from None
        raise Rejected(str(err)) from None
    if not result.ok:
        raise Rejected(f"rejected: {result.code_name} (code {result.code}): {result.log}")
    out = {"hash": result.hash, "code": result.code, "height": result.height, "type": kind, "signer": signer,
           "events": result.events}
    if not quiet:
        where = f" at height {result.height}" if result.height else " (in the mempool)"
        ctx.emit(out, f"{kind} {result.hash} accepted{where}")
    return out
