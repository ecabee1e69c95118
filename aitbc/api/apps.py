"""What every service's FastAPI app is built with (`FastAPI(**app_options(), ...)`).

FastAPI's own OpenTelemetry hooks are turned off. Our services report through Prometheus
(`/metrics`) and their JSON logs. With no OpenTelemetry provider configured, those hooks
record nothing, yet on every request they still ask the OpenTelemetry API for its three
providers, and each lookup reads the environment. At the coordinator's intake that cost
about 15 µs of CPU per job submission, measured in process (docs/benchmarks.md,
Coordinator intake).
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI

_NO_NATIVE_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}


def app_options() -> dict[str, Any]:
    """Keyword arguments for FastAPI(): its native telemetry off, where this FastAPI has it."""
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": dict(_NO_NATIVE_TELEMETRY)}
    return {}
