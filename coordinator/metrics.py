"""Prometheus metrics, one registry per app (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.tx_settled = Counter("aitbc_tx_settled", "Tracked transactions by final state",
                                  ["kind", "state"], registry=r)
        self.http_requests = Counter("aitbc_http_requests", "HTTP requests by route and status",
                                     ["method", "route", "status"], registry=r)
