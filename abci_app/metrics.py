"""Prometheus metrics of the ABCI app, in a registry of their own.

The hot paths (CheckTx, each tx of FinalizeBlock) only bump plain dicts; a
collector turns them into metric families when Prometheus scrapes. The state
gauges (jobs by status, escrow locked, keys and bytes) are counted once at
start-up and then moved by each Commit's changes, never by a scan per block.

Label values are bounded: tx types are the handler names (or 'undecodable'),
codes are the names in aitbc.codes, CheckTx kinds are 'new' and 'recheck'.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aitbc.abci_app import state as st
from aitbc.abci_app.store import Readable, Store
from aitbc.codes import code_name

# FinalizeBlock takes about a millisecond when empty and grows with the txs in it.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
TXS_PER_BLOCK_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
UNDECODABLE = "undecodable"
CHECK_KINDS = ("new", "recheck")  # RequestCheckTx.type: NEW = 0, RECHECK = 1
_JOB, _ESCROW = st.JOB_PREFIX.encode(), st.ESCROW_PREFIX.encode()
EVERY_KEY = (b"", b"\xff")  # every key is ASCII


def _job_status(value: bytes | None) -> str | None:
    # Not records.decode: counting every job at start-up must not fill its cache with them.
    return None if value is None else json.loads(value)["status"]


class StateTally:
    """Jobs by status, escrow locked, and the number and bytes of stored keys."""

    def __init__(self) -> None:
        self.jobs: Counter[str] = Counter()
        self.escrow_locked = 0
        self.keys = 0
        self.bytes = 0

    def recount(self, store: Store) -> None:
        """Count everything afresh (start-up, or a state restored from a snapshot)."""
        jobs: Counter[str] = Counter()
        escrow = keys = size = 0
        for key, value in store.iterate(*EVERY_KEY):
            keys += 1
            size += len(key) + len(value)
            if key.startswith(_JOB):
                jobs[_job_status(value)] += 1
            elif key.startswith(_ESCROW):
                escrow += int(value)
        self.jobs, self.escrow_locked, self.keys, self.bytes = jobs, escrow, keys, size

    def apply(self, committed: Readable, changes: Mapping[bytes, bytes | None]) -> None:
        """Move the tally by `changes`, read against `committed` before they are written."""
        for key, new in changes.items():
            old = committed.get(key)
            if old is not None:
                self.keys -= 1
                self.bytes -= len(key) + len(old)
            if new is not None:
                self.keys += 1
                self.bytes += len(key) + len(new)
            if key.startswith(_JOB):
                before, after = _job_status(old), _job_status(new)
                if before != after:
                    if before is not None:
                        self.jobs[before] -= 1
                    if after is not None:
                        self.jobs[after] += 1
            elif key.startswith(_ESCROW):
                self.escrow_locked += int(new or 0) - int(old or 0)


class AppMetrics:
    """What the app counts; `registry` is what its /metrics serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.finalize_seconds = Histogram(
            "aitbc_app_finalize_block_seconds",
            "Wall time of FinalizeBlock (all txs of a block applied, and its answer encoded)",
            buckets=DURATION_BUCKETS, registry=self.registry)
        self.block_txs = Histogram("aitbc_app_block_txs", "Transactions per finalized block",
                                   buckets=TXS_PER_BLOCK_BUCKETS, registry=self.registry)
        self.signature_batch = Histogram(
            "aitbc_app_signature_batch_size",
            "Signatures checked together (CheckTx requests that arrived together, a proposal, a block)",
            buckets=TXS_PER_BLOCK_BUCKETS, registry=self.registry)
        # (tx type, code) -> txs finalized; (code, 'new'|'recheck') -> CheckTx refusals.
        # Codes stay numbers here; their names are looked up at scrape time.
        self.txs: Counter[tuple[str, int]] = Counter()
        self.check_rejected: Counter[tuple[int, str]] = Counter()
        # Work not done twice (check_state.py): block txs taken as CheckTx applied them,
        # RECHECKs confirmed without running the tx, and RECHECKs that ran it again.
        self.reuse: Counter[str] = Counter()
        self.height = 0
        self.state = StateTally()
        self.registry.register(_Collector(self))

    def tx_finalized(self, kind: str, code: int, count: int = 1) -> None:
        self.txs[(kind, code)] += count

    def check_refused(self, code: int, recheck: bool) -> None:
        self.check_rejected[(code, CHECK_KINDS[recheck])] += 1

    def serve(self, address: str) -> None:
        """Serve /metrics on 'HOST:PORT' from a daemon thread."""
        host, port = address.rsplit(":", 1)
        start_http_server(int(port), addr=host.strip("[]"), registry=self.registry)


class _Collector(Collector):
    """Reads the plain counters at scrape time (a dict copy is atomic under the GIL)."""

    def __init__(self, metrics: AppMetrics):
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        txs = CounterMetricFamily("aitbc_app_txs", "Transactions finalized in blocks, by message type and "
                                  "result code", labels=["type", "code"])
        for (kind, code), count in sorted(m.txs.copy().items()):
            txs.add_metric([kind, code_name(code)], count)
        refused = CounterMetricFamily("aitbc_app_checktx_rejected", "Transactions CheckTx refused, by result "
                                      "code and check kind (new: entering the mempool, recheck: after a block)",
                                      labels=["code", "check"])
        for (code, kind), count in sorted(m.check_rejected.copy().items()):
            refused.add_metric([code_name(code), kind], count)
        tally = m.state
        jobs = GaugeMetricFamily("aitbc_app_jobs", "Jobs in the committed state, by status", labels=["status"])
        for status, count in sorted(tally.jobs.copy().items()):
            jobs.add_metric([status], count)
        reuse = CounterMetricFamily("aitbc_app_reused", "Work not done twice: block txs applied as CheckTx "
                                    "applied them (finalize), RECHECKs passed without running the tx (recheck_"
                                    "confirmed) or by running it again (recheck_rerun)", labels=["what"])
        for what, count in sorted(m.reuse.copy().items()):
            reuse.add_metric([what], count)
        yield txs
        yield refused
        yield reuse
        yield jobs
        yield GaugeMetricFamily("aitbc_app_escrow_locked", "Funds held in escrow for open jobs (base units)",
                                value=tally.escrow_locked)
        yield GaugeMetricFamily("aitbc_app_state_keys", "Keys in the committed state store", value=tally.keys)
        yield GaugeMetricFamily("aitbc_app_state_bytes", "Bytes of keys and values in the committed state store",
                                value=tally.bytes)
        yield GaugeMetricFamily("aitbc_app_height", "Height of the last committed block", value=m.height)
