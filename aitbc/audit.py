"""Check the chain's invariants from outside, through the node's RPC.

Reads every account, escrow, job, receipt, miner and coordinator with the
paged abci_query paths, all at one committed height (retrying when a block
lands in between), and reports each broken rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aitbc.jobspec import OPEN_ON_CHAIN
from aitbc.rpc import ChainRPC

# Check outcomes under which a receipt stays on record but paid nothing.
UNPAID_CHECKS = ("failed", "inconclusive", "unresolved")


class InconsistentRead(Exception):
    pass


@dataclass
class Snapshot:
    height: int
    genesis_supply: int
    supply: dict[str, int]
    accounts: dict[str, dict[str, Any]]
    escrows: dict[str, int]
    jobs: dict[str, dict[str, Any]]
    receipts: dict[str, dict[str, Any]]
    miners: list[dict[str, Any]]
    coordinators: list[dict[str, Any]] = field(default_factory=list)  # /coordinators: the genesis one first


@dataclass
class Report:
    height: int
    checks: dict[str, list[str]] = field(default_factory=dict)  # check name -> problems

    @property
    def ok(self) -> bool:
        return not any(self.checks.values())

    def as_dict(self) -> dict[str, Any]:
        return {"height": self.height, "ok": self.ok,
                "checks": {name: {"ok": not problems, "problems": problems} for name, problems in self.checks.items()}}


def _all(rpc: ChainRPC, path: str, heights: set[int]) -> list[dict[str, Any]]:
    items, after = [], ""
    while True:
        page, height = rpc.query_at(f"{path}?limit=1000" + (f"&after={after}" if after else ""))
        heights.add(height)
        items += page["items"]
        if not page["next"]:
            return items
        after = page["next"]


def read(rpc: ChainRPC) -> Snapshot:
    """Everything the audit needs, read at one height. Raises InconsistentRead."""
    heights: set[int] = set()
    genesis = rpc.call("genesis")["genesis"]
    genesis_supply = sum(int(a["balance"]) for a in genesis.get("app_state", {}).get("accounts", []))
    supply, height = rpc.query_at("/supply")
    heights.add(height)
    accounts = {i["key"]: i["value"] for i in _all(rpc, "/accounts", heights)}
    escrows = {i["key"]: i["value"] for i in _all(rpc, "/escrows", heights)}
    jobs = {i["key"]: i["value"] for i in _all(rpc, "/jobs", heights)}
    receipts = {i["key"]: i["value"] for i in _all(rpc, "/receipts", heights)}
    miners, height = rpc.query_at("/miners")
    heights.add(height)
    coordinators, height = rpc.query_at("/coordinators")
    heights.add(height)
    if len(heights) != 1:
        raise InconsistentRead(f"blocks were committed while reading (heights {sorted(heights)})")
    return Snapshot(heights.pop(), genesis_supply, supply, accounts, escrows, jobs, receipts, miners, coordinators)


def check(snap: Snapshot) -> Report:
    """Every invariant over one snapshot (pure)."""
    report = Report(snap.height)
    balances = sum(a["balance"] for a in snap.accounts.values())
    escrow = sum(snap.escrows.values())
    bonds = sum(c["bond"] for c in snap.coordinators if not c.get("genesis"))  # locked while registered
    staked = sum(m["stake"] + m.get("unbonding", 0) for m in snap.miners) + bonds  # unbonding stake is still locked
    burned = snap.supply.get("burned", 0)  # slashed stake destroyed on purpose
    fees = snap.supply.get("fees", 0)      # tx fees, burned
    total = balances + escrow + staked + burned + fees
    report.checks["total supply equals genesis supply"] = [] if total == snap.genesis_supply == snap.supply["total"] \
        else [f"balances {balances} + escrow {escrow} + staked {staked} + burned {burned} + fees {fees} = {total}; "
              f"genesis {snap.genesis_supply}; chain says {snap.supply['total']}"]
    report.checks["staked equals miners' stake and coordinators' bonds"] = [] \
        if staked == snap.supply.get("staked", staked) \
        else [f"miners' stake and unbonding + coordinators' bonds = {staked}; chain says {snap.supply['staked']}"]
    report.checks["no negative balances"] = [f"{a}: {v['balance']}" for a, v in snap.accounts.items()
                                             if v["balance"] < 0]
    open_problems, closed_problems, receipt_problems = [], [], []
    receipts_by_job: dict[str, list[dict[str, Any]]] = {}
    for receipt in snap.receipts.values():
        receipts_by_job.setdefault(receipt["job_id"], []).append(receipt)
    for job_id, job in snap.jobs.items():
        held = snap.escrows.get(job_id)
        if job["status"] in OPEN_ON_CHAIN and held != job["max_reward"] - job.get("check_paid", 0):
            open_problems.append(f"{job_id} ({job['status']}) holds {held} in escrow, max reward {job['max_reward']}")
        if job["status"] not in OPEN_ON_CHAIN and held is not None:
            closed_problems.append(f"{job_id} is {job['status']} but still holds {held} in escrow")
        found = receipts_by_job.get(job_id, [])
        if job["status"] == "completed":
            if len(found) != 1:
                receipt_problems.append(f"{job_id} is completed with {len(found)} receipts")
                continue
            receipt = found[0]
            billed = billed_ms(receipt)
            due = min(billed * receipt["price_per_second"] // 1000, job["max_reward"])
            check_paid = job.get("check_paid", 0)
            if receipt.get("billed_ms", billed) != billed:
                receipt_problems.append(f"{job_id} billed {receipt.get('billed_ms')} ms; the proof allows {billed} ms")
            if receipt["amount_paid"] != due or job["payment"] != due \
                    or job["payment"] + job["refund"] + check_paid != job["max_reward"]:
                receipt_problems.append(f"{job_id} paid {receipt['amount_paid']}, due {due} "
                                        f"(refund {job['refund']}, checks {check_paid}, max reward {job['max_reward']})")
        elif job["status"] == "verifying":
            if len(found) != 1 or found[0]["amount_paid"] != 0 or found[0].get("check_status") != "pending":
                receipt_problems.append(f"{job_id} is under check but its receipt is not one unpaid pending receipt")
        elif found and not (job.get("check_status") in UNPAID_CHECKS and found[0]["amount_paid"] == 0):
            # only a result proven wrong or left undecided by its check keeps its receipt, unpaid
            receipt_problems.append(f"{job_id} is {job['status']} but has a receipt")
    orphans = [f"escrow for unknown job {j}" for j in snap.escrows if j not in snap.jobs]
    report.checks["every open job has exactly its escrow"] = open_problems + orphans
    report.checks["no finished job holds escrow"] = closed_problems
    report.checks["every completed job has one receipt paying billed time x price"] = receipt_problems
    report.checks["every coordinator counts its open jobs"] = _coordinator_problems(snap)
    report.checks["direct jobs go to their candidates only"] = _direct_job_problems(snap)
    return report


def _coordinator_problems(snap: Snapshot) -> list[str]:
    """A registered coordinator's open_jobs is what keeps it from leaving: it must count the open jobs naming it."""
    registered = {c["address"]: c["open_jobs"] for c in snap.coordinators if not c.get("genesis")}
    found = dict.fromkeys(registered, 0)
    problems = []
    known = registered.keys() | {c["address"] for c in snap.coordinators if c.get("genesis")}
    for job_id, job in snap.jobs.items():
        named = job.get("coordinator", "")
        if job["status"] in OPEN_ON_CHAIN and named in found:
            found[named] += 1
        elif job["status"] in OPEN_ON_CHAIN and named and named not in known:
            problems.append(f"{job_id} is open and names {named}, which is not a coordinator")
    problems += [f"coordinator {a} counts {registered[a]} open jobs, has {n}" for a, n in found.items()
                 if registered[a] != n]
    problems += [f"coordinator {c['address']} is leaving with no open job but still holds its bond"
                 for c in snap.coordinators if c.get("leaving_height") and not c["open_jobs"]]
    return problems


def _direct_job_problems(snap: Snapshot) -> list[str]:
    """A direct job has no coordinator, and its miner is one of its candidates that did not decline it."""
    problems = []
    for job_id, job in snap.jobs.items():
        candidates = job.get("candidates") or []
        if not candidates:
            continue
        if job.get("coordinator"):
            problems.append(f"direct job {job_id} names coordinator {job['coordinator']}")
        if job.get("miner") and (job["miner"] not in candidates or job["miner"] in job.get("declined", [])):
            problems.append(f"direct job {job_id} went to {job['miner']}, not a candidate that kept it")
        if job["status"] == "completed" and not job.get("receipt_tx"):
            problems.append(f"direct job {job_id} is completed without the tx of its sealed result")
    return problems


def billed_ms(receipt: dict[str, Any]) -> int:
    """What a receipt may bill: the claimed time, bounded by its tokens x the job's ms-per-token ceiling."""
    ceiling = receipt.get("ms_per_token", 0)
    if not ceiling:  # a receipt from before metering
        return receipt["compute_time_ms"]
    return min(receipt["compute_time_ms"], (receipt["prompt_tokens"] + receipt["tokens_generated"]) * ceiling)


def consistent_read(rpc: ChainRPC, attempts: int = 20) -> Snapshot:
    """`read`, retried while blocks commit in the middle of it. Raises InconsistentRead."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            return read(rpc)
        except InconsistentRead as err:
            last = err
    raise InconsistentRead(f"no consistent read in {attempts} attempts: {last}")


def audit(rpc: ChainRPC, attempts: int = 20) -> Report:
    """Read a consistent snapshot (retrying across block boundaries) and check it."""
    return check(consistent_read(rpc, attempts))
