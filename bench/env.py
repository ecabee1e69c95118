"""What every benchmark shares: the machine and versions it ran on, spread
statistics, result files, per-process CPU time, and where the tools are."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from aitbc.ops import tools

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(os.environ.get("AITBC_BENCH_RESULTS", ROOT / "bench" / "results"))


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": ram_gib, "kernel": platform.release(),
            "ed25519_verify_us": cpu_yardstick()}


def cpu_yardstick(batches: int = 5, per_batch: int = 400) -> float:
    """CPU µs of one ed25519 verification (libsodium, a 169-byte message: a transfer's size),
    median of `batches`: what this machine's core was worth when a result was written.

    The shared VM these figures come from ran the same call at 36 µs one day and 60-95 µs
    another; every µs figure of a result scales with it, so it is kept beside them. Still
    libsodium (not the chain's native rule, since issue 15) so that old and new results share
    one yardstick."""
    from aitbc import crypto  # noqa: PLC0415 - only the benchmarks need it

    key = crypto.PrivateKey(bytes(32))
    message = bytes(169)
    signature = key.sign(message)
    times = []
    for _ in range(batches):
        start = time.process_time()
        for _ in range(per_batch):
            crypto.libsodium_verify(key.public_key, message, signature)
        times.append((time.process_time() - start) / per_batch * 1e6)
    return round(statistics.median(times), 1)


def _version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "not found"


def abci_cli() -> Path:
    return tools.tools_dir() / f"abci-cli-{tools.COMETBFT_VERSION}" / "abci-cli"


def versions() -> dict[str, str]:
    try:
        cometbft = _version([tools.cometbft(), "version"])
    except tools.ToolMissing:
        cometbft = "not found"
    try:
        from aitbc.ops.ollama_server import find_ollama

        out = subprocess.run([str(find_ollama()), "--version"], capture_output=True, text=True, timeout=20)
        found = re.search(r"version is (\S+)", out.stdout + out.stderr)
        ollama = found.group(1) if found else "unknown"
        if ollama == "0.0.0":  # built with `go install`, which sets no version
            ollama = f"{tools.OLLAMA_VERSION} (go install; the binary reports 0.0.0)"
    except Exception:  # noqa: BLE001 - Ollama is optional for most benchmarks
        ollama = "not found"
    from google.protobuf import __version__ as protobuf

    return {"cometbft": cometbft, "abci-cli": tools.COMETBFT_VERSION if abci_cli().exists() else "not found",
            "python": platform.python_version(), "ollama": ollama, "protobuf": protobuf,
            "protobuf_backend": _protobuf_backend()}


def _protobuf_backend() -> str:
    try:
        from google.protobuf.internal import api_implementation

        return api_implementation.Type()
    except Exception:  # noqa: BLE001
        return "unknown"


def spread(values: Iterable[float], digits: int = 1) -> dict[str, Any]:
    """median, min, max, IQR (quartiles) and n of repeated measurements."""
    data = sorted(values)
    if not data:
        return {"median": None, "min": None, "max": None, "q1": None, "q3": None, "n": 0}
    q1, q3 = (statistics.quantiles(data, n=4, method="inclusive")[::2] if len(data) > 1 else (data[0], data[0]))
    return {"median": round(statistics.median(data), digits), "min": round(data[0], digits),
            "max": round(data[-1], digits), "q1": round(q1, digits), "q3": round(q3, digits), "n": len(data)}


def cpu_us_per_tx(run: dict[str, Any]) -> dict[str, float] | None:
    """Each process's CPU per committed tx of a chain_throughput run, in µs (its CPU use
    while the load ran, in cores, over the committed tx/s); None when nothing committed."""
    rate = run["committed_tx_per_s"]
    return {name: cores / rate * 1e6 for name, cores in run["cpu_util"].items()} if rate else None


def app_cpu_budget(kvstore: dict[str, float], ours: dict[str, float], ratio: float) -> float:
    """The app CPU per tx (µs) at which ours, its cometbft's CPU per tx as it is, would cost
    kvstore's app + cometbft CPU per tx over `ratio`: on 2 shared cores the committed rate
    goes with the CPU each tx costs."""
    return (kvstore["app"] + kvstore["cometbft"]) / ratio - ours["cometbft"]


def metric_samples(url: str, timeout: float = 10) -> list[Sample]:
    """Every sample the service at `url` exports at /metrics now. Raises httpx.HTTPError."""
    text = httpx.get(f"{url}/metrics", timeout=timeout).text
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def metric_total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples called `name` (e.g. `x_count`) whose labels include `labels`."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def percentile(values: Iterable[float], p: float) -> float:
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def write_result(name: str, data: dict[str, Any]) -> Path:
    """bench/results/<name>.json with the machine and versions next to the figures."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": machine(), "versions": versions(), **data}
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def read_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def cpu_seconds(pid: int | None) -> float:
    """user + system CPU seconds of a process and its reaped children so far (0 if gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def python() -> str:
    return sys.executable


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
