"""What every job command needs: a coordinator client whose errors are CLI errors, and the signing key.

The client's key never leaves this machine: submit and cancel txs are signed
here (chain id and nonce come from the coordinator) and the coordinator only
broadcasts them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from aitbc.crypto import PrivateKey
from aitbc.keyring import KeyError_
from aitbc.cli import safe_text
from aitbc.cli.context import CLIError, Context, NetworkError, Rejected
from aitbc.api.coordinator_client import ApiError, CoordinatorClient, CoordinatorUnavailable


@contextlib.contextmanager
def coordinator(ctx: Context) -> Iterator[CoordinatorClient]:
    """A client of ctx.url; its errors become CLI errors with meaningful exit codes."""
    client = CoordinatorClient(ctx.url, ctx.api_key)
    try:
        yield client
    except CoordinatorUnavailable as err:
        raise NetworkError(f"{err} (is the coordinator running? set --url or AITBC_URL)") from None
    except ApiError as err:
        raise Rejected(api_error_text(err, ctx.api_key)) from None
    finally:
        client.close()


def api_error_text(err: ApiError, api_key: str | None) -> str:
    """The coordinator's problem, with how to pass a key once (its own detail may already say so)."""
    text = f"{safe_text.inline(err.title)}: {safe_text.inline(err.detail)}"
    if err.status == 401 and "api_key" not in text.lower().replace("-", "_"):
        text += " (pass --api-key, or set AITBC_API_KEY or CLIENT_KEY)" if not api_key else \
            " (the coordinator does not know this API key)"
    return text


def load_key(ctx: Context, name: str) -> PrivateKey:
    """The local key NAME; a missing key is a CLI error."""
    try:
        return ctx.keyring.get(name)
    except KeyError_ as err:
        raise CLIError(str(err)) from None
