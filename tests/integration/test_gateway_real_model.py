"""The real SmolLM2-135M-Instruct (`smollm2:135m`) through the gateway: a question gets a
plausible English answer, paid and proven like any job."""

from __future__ import annotations

import contextlib
import re

import openai
import pytest

from aitbc import jobspec
from aitbc.ops.harness import ROOT, CoordinatorProcess, MinerProcess, serve_model, wait_for
from aitbc.ops.harness.chain import ChainStack
from aitbc.ops.harness.gateway import GatewayProcess
from aitbc.ops.ollama_server import OllamaNotInstalled, find_ollama
from aitbc.ops.smollm2 import MODEL_NAME

pytestmark = [pytest.mark.integration, pytest.mark.real_model]

GGUF = ROOT / "build" / "models" / "smollm2-135m.gguf"


def test_smollm2_explains_machine_learning_through_the_gateway(tmp_path):
    if not GGUF.exists():
        pytest.skip(f"{GGUF} is missing (make setup, or python -m aitbc.ops.smollm2)")
    try:
        find_ollama()
    except OllamaNotInstalled as err:
        pytest.skip(str(err))
    with contextlib.ExitStack() as running:
        ollama = serve_model(tmp_path / "models", tmp_path / "ollama.log", GGUF, name=MODEL_NAME)
        running.callback(ollama.stop)
        chain = ChainStack(tmp_path / "chain", pending_timeout_s=30, job_timeout_s=120).start()
        running.callback(chain.stop)
        coordinator = CoordinatorProcess(tmp_path / "coordinator", chain)
        running.callback(coordinator.stop)
        coordinator.start()
        miner = MinerProcess(tmp_path / "miners", "miner1", chain, coordinator.url, ollama.url, model=MODEL_NAME)
        running.callback(miner.stop)
        miner.start()
        wait_for(lambda: any(m.online for m in coordinator.client().miners()), 60, "miner online")
        gateway = GatewayProcess(tmp_path / "client", chain, coordinator)
        running.callback(gateway.stop)
        gateway.start()

        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="anything", max_retries=0, timeout=180)
        chunks = list(client.chat.completions.create(
            model=MODEL_NAME, messages=[{"role": "user", "content": "What is machine learning?"}],
            max_tokens=48, temperature=0, seed=42, stream=True, stream_options={"include_usage": True}))
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        facts = chunks[-1].model_extra["aitbc"]
        assert jobspec.result_hash(answer).hex() == chain.rpc.query(f"/receipt/{facts['job_id']}")["result_hash"]

        words = re.findall(r"[A-Za-z]+", answer)
        assert len(words) >= 10, answer
        assert sum(c.isascii() for c in answer) >= 0.95 * len(answer), answer
        assert "learn" in answer.lower(), answer
