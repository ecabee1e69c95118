"""`abci_query` paths, answered as JSON from the committed state.

/account/<addr>  /nonce/<addr>  /job/<id>  /jobs/open  /checks/open  /receipt/<id or job id>
/miner/<addr>  /miners  /coordinator/<addr>  /coordinators  /params  /supply
/tx_results/<height> (which txs of a recent block failed: not state, see recent_results.py)
and, for audits, pages of everything: /accounts /jobs /escrows /receipts
(``?after=<last key seen>&limit=<n, at most 1000>``). /jobs/open and /checks/open
answer at most 1000 jobs a call (``?after=<last job id>``); /miners is bounded by
the stake each miner must lock, /coordinators by the bond each coordinator locks
(the genesis coordinator first, ``genesis: true``, with no bond; a leaving one has
``leaving_height`` set).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs

from aitbc.abci_app import records, state as st
from aitbc.abci_app.recent_results import RecentResults
from aitbc.abci_app.state import State
from aitbc.codes import Code
from aitbc.tx import receipt_id_for


class QueryError(Exception):
    def __init__(self, code: Code, message: str):
        super().__init__(message)
        self.code = code


def _account(state: State, address: str) -> dict[str, Any]:
    account = st.get_account(state, address)
    return {"address": address, "exists": account is not None,
            "balance": account.balance if account else 0, "nonce": account.nonce if account else 0}


def _need(value, what: str):
    if value is None:
        raise QueryError(Code.NOT_FOUND, f"{what} not found")
    return value


def _miners(state: State) -> list[dict[str, Any]]:
    return [asdict(miner) for miner in st.all_miners(state)]


def _genesis_coordinator(address: str) -> dict[str, Any]:
    """The genesis coordinator in the shape of a registered one: it has no record, no url on chain and no bond."""
    return {"address": address, "url": "", "bond": 0, "registered_height": 0, "open_jobs": 0, "leaving_height": 0,
            "genesis": True}


def _coordinators(state: State) -> list[dict[str, Any]]:
    genesis = st.get_coordinator(state)
    listed = [_genesis_coordinator(genesis)] if genesis else []
    return listed + [{**asdict(c), "genesis": False} for c in st.all_registered_coordinators(state)]


def _coordinator(state: State, address: str) -> dict[str, Any]:
    if address and address == st.get_coordinator(state):
        return _genesis_coordinator(address)
    coordinator = _need(st.get_registered_coordinator(state, address), f"coordinator {address}")
    return {**asdict(coordinator), "genesis": False}


MAX_PAGE = 1000


def _limit(params: dict[str, list[str]], default: int = MAX_PAGE) -> int:
    try:
        # clamped: 0 or a negative limit must not mean "everything" on the app's one thread
        return max(1, min(int(params.get("limit", [str(default)])[0]), MAX_PAGE))
    except ValueError:
        raise QueryError(Code.UNKNOWN_QUERY, "limit must be a number") from None


def _indexed_jobs(state: State, key_range: tuple[bytes, bytes], key_of, query: str) -> list[dict[str, Any]]:
    """Jobs of an index in key order, at most `limit`, starting after job `after` (a job id)."""
    params = parse_qs(query)
    start, stop = key_range
    after = params.get("after", [""])[0]
    if after:
        job = st.get_job(state, after)
        if job is not None:
            start = key_of(job) + b"\x00"
    ids = st.last_segments(state, (start, stop), _limit(params))
    return [asdict(st.get_job(state, job_id)) for job_id in ids]


def _receipt(state: State, ident: str) -> dict[str, Any]:
    receipt = st.get_receipt(state, ident) or st.get_receipt(state, receipt_id_for(ident))
    return asdict(_need(receipt, f"receipt {ident}"))


PAGED = {"accounts": (st.ACCOUNT_PREFIX, records.Account), "jobs": (st.JOB_PREFIX, records.Job),
         "escrows": (st.ESCROW_PREFIX, None), "receipts": (st.RECEIPT_PREFIX, records.Receipt)}

def _page(state: State, prefix: str, cls, query: str) -> dict[str, Any]:
    """Up to `limit` entries after key `after`, in key order, and the next cursor."""
    params = parse_qs(query)
    limit = _limit(params, default=100)
    after = params.get("after", [""])[0]
    start, stop = st.prefix_range(prefix)
    if after:
        start = (prefix + after + "\x00").encode()
    items = []
    for key, value in state.store.iterate(start, stop):
        name = key.decode()[len(prefix):]
        items.append({"key": name, "value": int(value) if cls is None else asdict(records.decode(cls, value))})
        if len(items) == limit:
            break
    return {"items": items, "next": items[-1]["key"] if len(items) == limit else None}


def answer(state: State, check_state: State, path: str, recent: RecentResults | None = None) -> Any:
    """The JSON-able answer for `path`. Raises QueryError."""
    path, _, query_string = path.partition("?")
    parts = [p for p in path.split("/") if p]
    if len(parts) == 1 and parts[0] in PAGED:
        return _page(state, *PAGED[parts[0]], query_string)
    match parts:
        case ["account", address]:
            return _account(state, address)
        case ["nonce", address]:
            # The next nonce including txs already accepted into the mempool.
            return _account(check_state, address)
        case ["job", job_id]:
            return asdict(_need(st.get_job(state, job_id), f"job {job_id}"))
        case ["jobs", "open"]:  # pending and assigned, by deadline; pages of 1000: ?after=<last job id>
            return _indexed_jobs(state, st.ALL_DEADLINES, lambda j: st.deadline_key(j.deadline_ns, j.id),
                                 query_string)
        case ["checks", "open"]:  # verifying, by check window; pages as /jobs/open
            return _indexed_jobs(state, st.ALL_CHECK_WINDOWS,
                                 lambda j: st.check_window_key(j.check_deadline_height, j.id), query_string)
        case ["receipt", ident]:
            return _receipt(state, ident)
        case ["miner", address]:
            return asdict(_need(st.get_miner(state, address), f"miner {address}"))
        case ["miners"]:
            return _miners(state)
        case ["coordinator", address]:
            return _coordinator(state, address)
        case ["coordinators"]:
            return _coordinators(state)
        case ["params"]:
            return {**asdict(st.get_params(state)), "coordinator": st.get_coordinator(state),
                    "chain_id": st.get_chain_id(state)}
        case ["tx_results", height] if height.isdigit():
            outcome = recent.get(int(height)) if recent is not None else None
            return _need(outcome, f"the tx results of height {height} (this node keeps the last "
                                  f"{recent.keep if recent else 0} it committed since it started)").as_json()
        case ["supply"]:
            supply = st.get_supply(state)
            return {**asdict(supply),
                    "circulating": supply.total - supply.escrow - supply.staked - supply.burned - supply.fees}
    raise QueryError(Code.UNKNOWN_QUERY, f"unknown query path {path!r}; try /account/<addr>, /job/<id>, "
                     "/jobs/open, /checks/open, /receipt/<id>, /miner/<addr>, /miners, /coordinator/<addr>, "
                     "/coordinators, /params, /supply, /tx_results/<height>, "
                     "/accounts, /jobs, /escrows, /receipts")


def encode(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True).encode()


# Paths whose answer is the same for every caller until the next Commit: an app keeps each
# one's encoded answer for the state it was built from. /miners decodes and renders every
# miner record (about 0.1 ms each: 1 000 miners, 80 ms of the one thread that also runs
# CheckTx and the blocks), and a coordinator asks for it on every assignment pass.
PER_STATE = frozenset({"/miners", "/coordinators", "/params", "/supply"})


