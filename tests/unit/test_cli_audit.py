"""`aitbc audit` says how much it checked."""

from __future__ import annotations

import json

from click.testing import CliRunner

from aitbc.cli.audit import audit
from aitbc.cli.context import Context


class TinyChain:
    """Two accounts and one completed job with its receipt, at height 5."""

    def call(self, method: str, **_params):
        assert method == "genesis"
        return {"genesis": {"app_state": {"accounts": [{"balance": "60"}, {"balance": "40"}]}}}

    def query_at(self, path: str):
        job = {"status": "completed", "max_reward": 10, "payment": 0, "refund": 10}
        receipt = {"job_id": "job_1", "compute_time_ms": 0, "price_per_second": 1, "amount_paid": 0}
        pages = {"/supply": {"total": 100, "escrow": 0, "staked": 0, "burned": 0}, "/miners": [],
                 "/coordinators": [],
                 "/accounts": [{"key": "a", "value": {"balance": 50}}, {"key": "b", "value": {"balance": 50}}],
                 "/escrows": [], "/jobs": [{"key": "job_1", "value": job}],
                 "/receipts": [{"key": "rcpt_1", "value": receipt}]}
        value = pages[path.split("?")[0]]
        return (value if path in ("/supply", "/miners", "/coordinators") else {"items": value, "next": ""}), 5


def test_audit_counts_what_it_checked():
    result = CliRunner().invoke(audit, [], obj=Context(_rpc=TinyChain()), catch_exceptions=False)
    assert result.stdout.splitlines()[0] == "audit at height 5: checked 2 accounts, 1 jobs, 1 receipts, 0 miners"
    data = json.loads(CliRunner().invoke(audit, ["--json"], obj=Context(_rpc=TinyChain())).stdout)
    assert data["checked"] == {"accounts": 2, "jobs": 1, "receipts": 1, "miners": 0}
