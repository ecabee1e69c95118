"""`aitbc receipt`: show, export and verify receipts.

`aitbc receipt JOB_ID|RECEIPT_ID` shows one (through the coordinator, or from
the chain without an API key);
`export` writes a self-contained bundle (receipt, job, miner key, result);
`verify` checks signatures, hashes, attested options and payment, offline
where it can, and against the chain unless --offline.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from aitbc.receipts import chain_of, verify_offline, verify_online
from aitbc.rpc import ChainError
from aitbc.cli import jobs
from aitbc.cli.chain import chain_query
from aitbc.cli.safe_text import inline
from aitbc.cli.context import CLIError, Context, Rejected, json_option, pass_ctx
from aitbc.api.coordinator_client import ApiError, CoordinatorClient, CoordinatorUnavailable
from aitbc.api.coordinator_models import ReceiptPublic


class VerificationFailed(CLIError):
    exit_code = 5


class DefaultToShow(click.Group):
    """`aitbc receipt X` means `aitbc receipt show X` unless X is a subcommand."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


@click.group("receipt", cls=DefaultToShow)
def receipt() -> None:
    """Show (default), export or verify a receipt: aitbc receipt [show|export|verify] JOB_ID|RECEIPT_ID."""


@receipt.command("show")
@click.argument("ident", metavar="JOB_ID|RECEIPT_ID")
@json_option
@pass_ctx
def show(ctx: Context, ident: str) -> None:
    """Show the on-chain receipt of a job: through the coordinator when an API key is set,
    else (or when the coordinator does not answer or refuses the key) from the chain."""
    if ctx.api_key:
        client = CoordinatorClient(ctx.url, ctx.api_key)
        try:
            found = client.receipt(ident)
            ctx.emit(found.model_dump(mode="json"), jobs.receipt_text(found))
            return
        except CoordinatorUnavailable:
            ctx.progress("(the coordinator does not answer; reading the receipt from the chain)")
        except ApiError as err:
            if err.status not in (401, 403):
                raise Rejected(jobs.api_error_text(err, ctx.api_key)) from None
            ctx.progress("(the coordinator refused the API key; reading the receipt from the chain)")
        finally:
            client.close()
    # The receipt is public on chain: no key needed.
    record = receipt_from_chain(ctx, ident)
    ctx.emit(record, jobs.receipt_text(ReceiptPublic.from_chain(record)))


def receipt_from_chain(ctx: Context, ident: str) -> dict[str, Any]:
    return chain_query(ctx, f"/receipt/{ident}")


def build_bundle(ctx: Context, ident: str, prompt: str | None) -> dict[str, Any]:
    """Receipt, job and miner key from the chain; the result from the coordinator when it answers."""
    receipt_data = chain_query(ctx, f"/receipt/{ident}")
    # Ids repeat across chains: the bundle says which chain its receipt is from.
    bundle = {"chain_id": chain_query(ctx, "/params")["chain_id"], "receipt": receipt_data, "job": chain_query(ctx, f"/job/{receipt_data['job_id']}"),
              "miner_public_key": chain_query(ctx, f"/miner/{receipt_data['miner']}")["public_key"],
              "result": None, "prompt": prompt}
    try:
        with jobs.coordinator(ctx) as client:
            bundle["result"] = client.get_job(receipt_data["job_id"]).result
    except (CLIError, Exception):  # noqa: BLE001 - the result is optional; the rest stands alone
        ctx.progress("(no result text: the coordinator did not answer; hashes are still checked)")
    return bundle


@receipt.command("export")
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


@receipt.command("verify")
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
