"""Prometheus metrics, one registry per app (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Waits of a few milliseconds, for the two parts of a submission's time that are not the
# coordinator's own work (docs/benchmarks.md, Coordinator intake).
_WAIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs_submitted = Counter("aitbc_jobs_submitted", "Jobs accepted and broadcast", registry=r)
        self.jobs_completed = Counter("aitbc_jobs_completed", "Jobs completed with a receipt on chain", registry=r)
        self.jobs_failed = Counter("aitbc_jobs_failed", "Jobs failed, expired or cancelled (refunded)",
                                   ["reason"], registry=r)
        self.job_latency = Histogram("aitbc_job_latency_seconds", "Submission to receipt, per completed job",
                                     buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600), registry=r)
        self.queue_depth = Gauge("aitbc_queue_depth", "Jobs waiting for a miner", registry=r)
        self.queue_jobs_read = Counter(
            "aitbc_queue_jobs_read", "Queued jobs the store returned to assignment passes (only those some miner "
            "could take)", registry=r)
        self.tx_broadcast = Counter("aitbc_tx_broadcast", "Transactions broadcast by outcome",
                                    ["kind", "outcome"], registry=r)
        # A job submission's outcomes, labelled once (labels() costs microseconds per call).
        self.submit_accepted = self.tx_broadcast.labels(kind="submit_job", outcome="accepted")
        self.submit_rejected = self.tx_broadcast.labels(kind="submit_job", outcome="rejected")
        self.node_broadcast = Histogram(
            "aitbc_node_broadcast_seconds", "From handing a tx to the node until its CheckTx answer "
            "(broadcast_tx_sync; retries included), per tx the coordinator sends", buckets=_WAIT_BUCKETS, registry=r)
        self.store_commit_wait = Histogram(
            "aitbc_store_commit_wait_seconds", "From handing a request's writes to the shared SQLite commit until "
            "they are committed (a job submission's job and tx)", buckets=_WAIT_BUCKETS, registry=r)
        self.tx_settled = Counter("aitbc_tx_settled", "Tracked transactions by final state",
                                  ["kind", "state"], registry=r)
        self.http_requests = Counter("aitbc_http_requests", "HTTP requests by route and status",
                                     ["method", "route", "status"], registry=r)
