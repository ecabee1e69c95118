"""How the network is doing over time: block interval, txs/s and jobs/s.

Read from the chain (headers of the last N blocks, and the results of the
blocks that hold txs), or, when an operator runs one, from Prometheus (the
app's and cometbft's own metrics). Plain dicts of (time, value) series; the
page draws them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from aitbc.explorer.chain import status
from aitbc.rpc import ChainRPC, decode_events

MAX_BLOCKS = 200
SUBMIT = "submit_job"
# Prometheus: one node's view (every node counts the same txs), as rates over a minute.
PROMQL = {
    "block_interval": "max(rate(cometbft_consensus_block_interval_seconds_sum[1m])"
                      " / rate(cometbft_consensus_block_interval_seconds_count[1m]))",
    "txs_per_s": "max(sum by (instance) (rate(aitbc_app_txs_total[1m])))",
    "jobs_per_s": f'max(sum by (instance) (rate(aitbc_app_txs_total{{type="{SUBMIT}",code="OK"}}[1m])))',
}
SERIES = ("block_interval", "txs_per_s", "jobs_per_s")


class PrometheusUnavailable(RuntimeError):
    """Prometheus did not answer, or answered with an error."""


def _seconds(rfc3339: str) -> float:
    """CometBFT's header time (nanosecond RFC 3339, 'Z') as a Unix time in seconds."""
    main, _, rest = rfc3339.rstrip("Z").partition(".")
    fraction = float("0." + rest) if rest else 0.0
    return datetime.fromisoformat(main + "+00:00").timestamp() + fraction


def _headers(rpc: ChainRPC, low: int, high: int) -> list[dict[str, Any]]:
    headers = []
    while low <= high:
        top = min(high, low + 19)  # `blockchain` returns at most 20 headers
        for meta in rpc.call("blockchain", minHeight=str(low), maxHeight=str(top))["block_metas"]:
            headers.append({"height": int(meta["header"]["height"]), "time": _seconds(meta["header"]["time"]),
                            "num_txs": int(meta["num_txs"])})
        low = top + 1
    return sorted(headers, key=lambda h: h["height"])


def _jobs_submitted(rpc: ChainRPC, height: int) -> int:
    """Jobs a block accepted: its submit_job txs that succeeded."""
    results = rpc.block_results(height).get("txs_results") or []
    return sum(1 for r in results if int(r.get("code", 0)) == 0
               and any(e["type"] == "message" and e["attributes"].get("action") == SUBMIT
                       for e in decode_events(r.get("events", []))))


def from_chain(rpc: ChainRPC, blocks: int = 100) -> dict[str, Any]:
    """The last `blocks` blocks (at most MAX_BLOCKS): per block, its time, the interval since the
    block before, and txs/s and jobs/s over that interval. Only blocks with txs cost a second call."""
    head = status(rpc)
    blocks = max(2, min(blocks, MAX_BLOCKS))
    low = max(1, head["height"] - blocks)  # one more than shown: the first interval needs it
    headers = _headers(rpc, low, head["height"])
    points = []
    for before, block in zip(headers, headers[1:]):
        interval = block["time"] - before["time"]
        jobs = _jobs_submitted(rpc, block["height"]) if block["num_txs"] else 0
        per_s = (lambda n: n / interval) if interval > 0 else (lambda n: 0.0)
        points.append({"height": block["height"], "time": block["time"], "interval": interval,
                       "txs": block["num_txs"], "jobs": jobs, "txs_per_s": per_s(block["num_txs"]),
                       "jobs_per_s": per_s(jobs)})
    series = {"block_interval": [(p["time"], p["interval"]) for p in points],
              "txs_per_s": [(p["time"], p["txs_per_s"]) for p in points],
              "jobs_per_s": [(p["time"], p["jobs_per_s"]) for p in points]}
    return {"source": "chain", "chain_id": head["chain_id"], "height": head["height"], "blocks": points,
            "series": series, "summary": summary(points)}


def summary(points: list[dict[str, Any]]) -> dict[str, float]:
    """Averages over the window: mean block interval, and txs and jobs per second of wall time."""
    if not points:
        return {"blocks": 0, "mean_interval": 0.0, "txs_per_s": 0.0, "jobs_per_s": 0.0}
    span = sum(p["interval"] for p in points)
    rate = (lambda n: n / span) if span > 0 else (lambda n: 0.0)
    return {"blocks": len(points), "mean_interval": span / len(points),
            "txs_per_s": rate(sum(p["txs"] for p in points)), "jobs_per_s": rate(sum(p["jobs"] for p in points))}


def from_prometheus(url: str, minutes: int = 15, step: int = 5, client: httpx.Client | None = None,
                    now: float | None = None) -> dict[str, Any]:
    """The same three series over the last `minutes`, from Prometheus' range queries.

    Raises PrometheusUnavailable when it does not answer or a query fails."""
    import time

    end = now if now is not None else time.time()
    http = client or httpx.Client(timeout=5)
    series: dict[str, list[tuple[float, float]]] = {}
    try:
        for name in SERIES:
            try:
                answer = http.get(f"{url.rstrip('/')}/api/v1/query_range",
                                  params={"query": PROMQL[name], "start": end - 60 * minutes, "end": end,
                                          "step": step}).json()
            except (httpx.HTTPError, ValueError) as err:
                raise PrometheusUnavailable(f"Prometheus at {url} did not answer: {err}") from None
            if answer.get("status") != "success":
                raise PrometheusUnavailable(f"Prometheus at {url}: {answer.get('error', 'query failed')}")
            result = answer["data"]["result"]
            series[name] = [(float(t), float(v)) for t, v in result[0]["values"]
                            if v not in ("NaN", "+Inf", "-Inf")] if result else []
    finally:
        if client is None:
            http.close()
    return {"source": "prometheus", "url": url, "minutes": minutes, "series": series}
