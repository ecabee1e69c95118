"""`aitbc audit`: the chain's invariants, checked through RPC."""

from __future__ import annotations

import click

from aitbc.audit import InconsistentRead, check, consistent_read
from aitbc.rpc import NodeUnavailable
from aitbc.cli.context import CLIError, Context, NetworkError, json_option, pass_ctx


class AuditFailed(CLIError):
    exit_code = 5


@click.command()
@json_option
@pass_ctx
def audit(ctx: Context) -> None:
    """Check supply, balances, escrow and receipts at one height; exit 5 if broken."""
    try:
        snapshot = consistent_read(ctx.rpc)
    except NodeUnavailable as err:
        raise NetworkError(str(err)) from None
    except InconsistentRead as err:
        raise CLIError(str(err)) from None
    report = check(snapshot)
    counts = {"accounts": len(snapshot.accounts), "jobs": len(snapshot.jobs), "receipts": len(snapshot.receipts),
              "miners": len(snapshot.miners)}
    lines = [f"audit at height {report.height}: checked " + ", ".join(f"{n} {what}" for what, n in counts.items())]
    for name, problems in report.checks.items():
        lines.append(f"  {'ok  ' if not problems else 'FAIL'} {name}")
        lines += [f"       - {p}" for p in problems]
    ctx.emit({**report.as_dict(), "checked": counts}, "\n".join(lines))
    if not report.ok:
        raise AuditFailed("invariants are broken (see above)")
