"""Prometheus metrics of one miner, in its own registry (several apps may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Ollama latency spans milliseconds (tiny model) to minutes (large models on CPU).
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class MinerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.jobs_accepted = Counter("miner_jobs_accepted_total", "Assignments accepted", registry=r)
        self.jobs_completed = Counter("miner_jobs_completed_total", "Jobs finished with a signed proof", registry=r)
        self.jobs_failed = Counter("miner_jobs_failed_total", "Jobs reported as failed", ["reason"], registry=r)
        self.assignments_rejected = Counter("miner_assignments_rejected_total", "Assignments refused",
                                            ["reason"], registry=r)
        self.active_jobs = Gauge("miner_active_jobs", "Jobs running now", registry=r)
        self.capacity = Gauge("miner_capacity", "Jobs this miner runs at once", registry=r)
        self.pending_reports = Gauge("miner_pending_reports", "Results not yet acknowledged by the coordinator",
                                     registry=r)
        self.tokens_generated = Counter("miner_tokens_generated_total", "Tokens generated", registry=r)
        self.ollama_latency = Histogram("miner_ollama_request_seconds", "Wall time of Ollama /api/generate or /api/chat",
                                        ["model", "outcome"], buckets=LATENCY_BUCKETS, registry=r)
        self.heartbeat_failures = Counter("miner_heartbeat_failures_total", "Failed coordinator heartbeats",
                                          registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
