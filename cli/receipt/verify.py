"""`aitbc receipt verify`: signatures, hashes, attested options and payment; exit 5 when a check fails."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from aitbc.receipts import chain_of, verify_offline, verify_online
from aitbc.rpc import ChainError
from aitbc.cli.context import CLIError, Context, json_option, pass_ctx
from aitbc.cli.receipt.bundle import build_bundle
from aitbc.cli.safe_text import inline


class VerificationFailed(CLIError):
    exit_code = 5


@click.command("verify")
@click.argument("target", metavar="JOB_ID|RECEIPT_ID|FILE")
@click.option("--offline", is_flag=True, help="Only the checks that need no network (needs a FILE).")
@click.option("--prompt", default=None, help="Check this prompt against the receipt's prompt hash.")
@json_option
@pass_ctx
def verify(ctx: Context, target: str, offline: bool, prompt: str | None) -> None:
    """Check a receipt's signatures, hashes, options and payment, and the chain's record.

    Exit 5 when a check fails."""
    path = Path(target)
    if path.is_file():
        bundle = json.loads(path.read_text())
        if prompt is not None:
            bundle["prompt"] = prompt
    elif offline:
        raise CLIError("--offline needs a receipt file (from `aitbc receipt export`)")
    else:
        bundle = build_bundle(ctx, target, prompt)
    findings = verify_offline(bundle)
    if not offline:
        try:
            findings += verify_online(bundle, ctx.rpc)
        except ChainError as err:
            raise CLIError(f"cannot compare with the chain: {err} (use --offline to skip)") from None
    ok = all(f.ok for f in findings)
    # A bundle file is anyone's text: ids and details printed on one safe line each.
    lines = [f"{'✓' if f.ok else '✗'} {f.check}" + (f"  ({inline(f.detail)})" if not f.ok and f.detail else "")
             for f in findings]
    chain_id = chain_of(bundle)
    lines.append(f"receipt {inline(bundle['receipt']['id'])} of chain {inline(chain_id) or '(unknown)'}: "
                 f"{'verified' if ok else 'NOT verified'}")
    ctx.emit({"receipt_id": bundle["receipt"]["id"], "chain_id": chain_id, "ok": ok,
              "checks": [asdict(f) for f in findings]}, "\n".join(lines))
    if not ok:
        raise VerificationFailed("the receipt does not verify (see above)")
