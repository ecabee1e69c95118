"""Streaming through the OpenAI-compatible gateway against Ollama directly, on a real
stack: a chain (cometbft + our app, 1 s blocks), the coordinator, one miner daemon per
model on a real Ollama, and `aitbc gateway` as its own process (aitbc.ops.harness).

- time to first token: the first non-empty content chunk of
  `POST /v1/chat/completions` (stream=true, SSE) against the first non-empty
  `message.content` of Ollama's `POST /api/chat` (stream=true, NDJSON), for the same
  messages and options (temperature 0, seed 42, max_tokens = num_predict; the
  miner's num_thread, 1, for both). Runs alternate direct / gateway after one
  warm-up of each, so both see the same warm model and prompt cache.
- tokens/s: completion tokens (Ollama's eval_count; the gateway's usage, which is
  the receipt's tokens_generated) over the time from the first to the last content
  chunk, counting the intervals (tokens − 1).
- the whole answer: the same chat through the gateway without streaming (OpenAI's
  default; the answer comes once the receipt is in a block), started at a random
  phase against the block clock, over Ollama's whole stream of the same round.
- the demo (`scripts/demo.py`, SmolLM2, 64 tokens): its answer and its timings,
  read from its output.

Usage: python -m bench.gateway_stream [--runs 10] [--models smollm2:135m aitbc-tiny] [--no-demo]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx

from aitbc.cli.safe_text import BLOCK_PREFIX
from aitbc.miner.ollama_client import run_sync
from aitbc.ops import smollm2
from aitbc.ops.harness import ChainStack, CoordinatorProcess, MinerProcess, serve_model, tiny_model_file, wait_for
from aitbc.ops.harness.gateway import GatewayProcess
from aitbc.ops.ollama_server import TINY_MODEL_NAME
from bench import env

MESSAGES = [{"role": "user", "content": "What is machine learning?"}]
MAX_TOKENS = 64
TEMPERATURE, SEED = 0, 42
NUM_THREAD = 1        # what MinerProcess gives every job (--num-thread 1)
MINERS = {smollm2.MODEL_NAME: "miner1", TINY_MODEL_NAME: "miner2"}
TIMEOUT_S = 180
BLOCK_S = 1.0         # the chain's block interval (timeout_commit)


@dataclass
class Stream:
    """One streamed answer, seconds from sending the request."""

    ttft_s: float
    last_token_s: float
    end_s: float          # the stream's end: Ollama's done object, or the gateway's [DONE]
    tokens: int
    text: str

    @property
    def tokens_per_s(self) -> float | None:
        span = self.last_token_s - self.ttft_s
        return (self.tokens - 1) / span if self.tokens > 1 and span > 0 else None


def direct(http: httpx.Client, ollama_url: str, model: str) -> Stream:
    """One streamed chat turn straight from Ollama's /api/chat."""
    body = {"model": model, "messages": MESSAGES, "stream": True,
            "options": {"temperature": TEMPERATURE, "seed": SEED, "num_predict": MAX_TOKENS, "num_thread": NUM_THREAD}}
    first = last = None
    pieces: list[str] = []
    t0 = time.perf_counter()
    with http.stream("POST", f"{ollama_url}/api/chat", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.strip():
                continue
            piece = json.loads(line)
            if text := (piece.get("message") or {}).get("content"):
                last = time.perf_counter() - t0
                first = first if first is not None else last
                pieces.append(text)
            if piece.get("done"):
                return Stream(first, last, time.perf_counter() - t0, int(piece["eval_count"]), "".join(pieces))
    raise RuntimeError("Ollama's stream ended without its done object")


def through_gateway(http: httpx.Client, gateway_url: str, model: str) -> Stream:
    """One streamed chat completion through the gateway (SSE), with usage in the last chunk."""
    body = {"model": model, "messages": MESSAGES, "max_tokens": MAX_TOKENS, "temperature": TEMPERATURE,
            "seed": SEED, "stream": True, "stream_options": {"include_usage": True}}
    first = last = None
    tokens = 0
    pieces: list[str] = []
    t0 = time.perf_counter()
    with http.stream("POST", f"{gateway_url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for data in _sse_data(response.iter_lines()):
            if data == "[DONE]":
                return Stream(first, last, time.perf_counter() - t0, tokens, "".join(pieces))
            chunk = json.loads(data)
            if "error" in chunk:
                raise RuntimeError(f"gateway stream failed: {chunk['error']}")
            for choice in chunk.get("choices") or ():
                if text := (choice.get("delta") or {}).get("content"):
                    last = time.perf_counter() - t0
                    first = first if first is not None else last
                    pieces.append(text)
            if chunk.get("usage"):
                tokens = int(chunk["usage"]["completion_tokens"])
    raise RuntimeError("the gateway's stream ended without [DONE]")


def whole_through_gateway(http: httpx.Client, gateway_url: str, model: str) -> Stream:
    """One chat completion through the gateway without streaming (the OpenAI client's default):
    the whole answer comes when the job is final, its receipt in a block."""
    body = {"model": model, "messages": MESSAGES, "max_tokens": MAX_TOKENS, "temperature": TEMPERATURE,
            "seed": SEED}
    t0 = time.perf_counter()
    response = http.post(f"{gateway_url}/v1/chat/completions", json=body)
    end = time.perf_counter() - t0
    response.raise_for_status()
    answer = response.json()
    return Stream(end, end, end, int(answer["usage"]["completion_tokens"]),
                  answer["choices"][0]["message"]["content"])


def _sse_data(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if line.startswith("data:"):
            yield line[5:].strip()


def _percentiles(values: list[float], digits: int = 3) -> dict[str, Any]:
    if not values:
        return {"p50": None, "p95": None, **env.spread(values, digits)}
    return {"p50": round(env.percentile(values, 50), digits), "p95": round(env.percentile(values, 95), digits),
            **env.spread(values, digits)}


def compare(http: httpx.Client, ollama_url: str, gateway_url: str, model: str, runs: int) -> dict[str, Any]:
    """`runs` alternating rounds (direct, gateway streamed, gateway whole) after one warm-up round."""
    pairs, wholes = [], []
    phases = random.Random(SEED)
    for i in range(runs + 1):
        pair = (direct(http, ollama_url, model), through_gateway(http, gateway_url, model))
        # The stream ended with a block: start the next job at a random phase against the block
        # clock (1 s), as a client would, not always right after a block.
        time.sleep(phases.uniform(0, BLOCK_S))
        whole = whole_through_gateway(http, gateway_url, model)
        if i:
            pairs.append(pair)
            wholes.append(whole)
        env.log(f"gateway_stream {model} run {i}{' (warm-up)' if not i else ''}: ttft direct "
                f"{pair[0].ttft_s:.3f} s, gateway {pair[1].ttft_s:.3f} s; whole answer {whole.end_s:.3f} s")
    d, g = [p[0] for p in pairs], [p[1] for p in pairs]
    overhead = [b.ttft_s - a.ttft_s for a, b in pairs]
    rates = {"direct": [s.tokens_per_s for s in d if s.tokens_per_s], "gateway": [s.tokens_per_s for s in g if s.tokens_per_s]}
    return {
        "model": model, "runs": runs,
        "ttft_s": {"direct": _percentiles([s.ttft_s for s in d]), "gateway": _percentiles([s.ttft_s for s in g]),
                   "overhead": _percentiles(overhead)},
        "tokens_per_s": {k: _percentiles(v, 1) for k, v in rates.items()},
        "tokens": {"direct": env.spread([s.tokens for s in d], 0), "gateway": env.spread([s.tokens for s in g], 0)},
        "end_s": {"direct": _percentiles([s.end_s for s in d]), "gateway": _percentiles([s.end_s for s in g])},
        # When the client has all the text (its last content chunk), before the receipt's block ends the stream.
        "last_text_overhead": _percentiles([b.last_token_s - a.last_token_s for a, b in pairs
                                            if a.last_token_s is not None and b.last_token_s is not None]),
        # Not streamed: the whole answer's time over Ollama's whole stream, same round.
        "whole_s": {"gateway": _percentiles([w.end_s for w in wholes]),
                    "overhead": _percentiles([w.end_s - a.end_s for (a, _), w in zip(pairs, wholes)])},
        "same_text": all(a.text == b.text == w.text for (a, b), w in zip(pairs, wholes)),
        "answer": g[-1].text,
        "rows": [{"direct": asdict(a), "gateway": asdict(b)} for a, b in pairs],
    }


def measure(runs: int, models: tuple[str, ...]) -> dict[str, Any]:
    """The comparison for each of `models` on one stack with one miner per model."""
    gguf = {smollm2.MODEL_NAME: smollm2.ensure_gguf(env.ROOT / smollm2.DEFAULT_PATH)}
    with tempfile.TemporaryDirectory(prefix="aitbc-bench-") as directory, contextlib.ExitStack() as running:
        root = Path(directory)
        gguf[TINY_MODEL_NAME] = tiny_model_file(root)
        ollama = serve_model(root / "ollama" / "models", root / "ollama" / "ollama.log", gguf[models[0]],
                             name=models[0])
        running.callback(ollama.stop)
        for model in models[1:]:
            run_sync(ollama.url, lambda c, m=model: c.ensure_model(m, gguf[m]))
        chain = ChainStack(root / "chain", pending_timeout_s=60, job_timeout_s=TIMEOUT_S).start()
        running.callback(chain.stop)
        coordinator = CoordinatorProcess(root / "coordinator", chain)
        running.callback(coordinator.stop)
        coordinator.start()
        for model in models:
            miner = MinerProcess(root / "miners", MINERS[model], chain, coordinator.url, ollama.url, model=model)
            running.callback(miner.stop)
            miner.start()
        wait_for(lambda: sum(m.online for m in coordinator.client().miners()) >= len(models), 60, "miners online")
        gateway = GatewayProcess(root / "client", chain, coordinator)
        running.callback(gateway.stop)
        gateway.start()
        with httpx.Client(timeout=TIMEOUT_S) as http:
            return {"models": {m: compare(http, ollama.url, gateway.url, m, runs) for m in models}}


# --- the demo ----------------------------------------------------------------------------

def demo() -> dict[str, Any]:
    """Run `scripts/demo.py` (SmolLM2, --num-predict 64) and read its answer and timings."""
    t0 = time.monotonic()
    done = subprocess.run([env.python(), str(env.ROOT / "scripts" / "demo.py")], capture_output=True, text=True,
                          timeout=600, cwd=env.ROOT)
    if done.returncode:
        raise RuntimeError(f"demo failed ({done.returncode}): {(done.stdout + done.stderr)[-1500:]}")
    out = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    seconds = {key: float(re.search(rf"{label}:\s+([\d.]+) s", out).group(1))
               for key, label in (("client_s", "client saw"), ("ollama_s", "Ollama total"),
                                  ("overhead_s", "system overhead"))}
    return {"command": "python scripts/demo.py", "answer": demo_answer(out), **seconds,
            "client_waits": "waited for with one `wait` (long polls)",
            "wall_s": round(time.monotonic() - t0, 1)}


def demo_answer(out: str) -> str:
    """The `Result:` of the demo's last `status` output (one line, or a prefixed block)."""
    lines = out.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("Result: "))
    first = lines[start][len("Result: "):]
    if not re.fullmatch(r"\(\d+ lines\)", first):
        return first
    body = []
    for line in lines[start + 1:]:
        if not line.startswith(BLOCK_PREFIX):
            break
        body.append(line[len(BLOCK_PREFIX):])
    return "\n".join(body)


def run(runs: int, models: tuple[str, ...], with_demo: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"messages": MESSAGES, "max_tokens": MAX_TOKENS, "temperature": TEMPERATURE,
                           "seed": SEED, "num_thread": NUM_THREAD, "load_before": list(os.getloadavg())}
    out.update(measure(runs, models))
    out["load_after_streams"] = list(os.getloadavg())
    if with_demo:
        env.log("gateway_stream: the demo")
        out["demo"] = demo()
    out["load_after"] = list(os.getloadavg())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--models", nargs="+", default=[smollm2.MODEL_NAME, TINY_MODEL_NAME])
    parser.add_argument("--no-demo", action="store_true")
    args = parser.parse_args()
    out = run(args.runs, tuple(args.models), not args.no_demo)
    for result in out["models"].values():
        result.pop("rows")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
