"""The gateway as OpenAI's API, on a real stack: chain (cometbft + app), coordinator, a miner
daemon on a real Ollama serving the tiny model, and `aitbc gateway` as its own process; the
client is the real `openai` package."""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest

from aitbc import jobspec
from aitbc.cli import safe_text
from aitbc.ops.factories import KEYS
from aitbc.ops.harness import CoordinatorProcess, MinerProcess, wait_for
from aitbc.ops.harness.chain import ChainStack
from aitbc.ops.harness.gateway import GatewayProcess
from aitbc.ops.ollama_server import TINY_MODEL_NAME
from tests.integration.ollama_fixtures import ollama_server, tiny_model, tiny_model_path  # noqa: F401

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    chain: ChainStack
    coordinator: CoordinatorProcess
    gateway: GatewayProcess

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.gateway.url}/v1", api_key="anything", max_retries=0, timeout=120)

    def receipt(self, job_id: str) -> dict:
        return self.chain.rpc.query(f"/receipt/{job_id}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, ollama_server, tiny_model) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("gateway-stack")
    with contextlib.ExitStack() as running:
        chain = ChainStack(root / "chain", pending_timeout_s=30, job_timeout_s=120).start()
        running.callback(chain.stop)
        coordinator = CoordinatorProcess(root / "coordinator", chain)
        running.callback(coordinator.stop)
        coordinator.start()
        miner = MinerProcess(root / "miners", "miner1", chain, coordinator.url, ollama_server.url,
                             model=TINY_MODEL_NAME)
        running.callback(miner.stop)
        miner.start()
        wait_for(lambda: any(m.online for m in coordinator.client().miners()), 60, "miner online")
        gateway = GatewayProcess(root / "client", chain, coordinator)
        running.callback(gateway.stop)
        gateway.start()
        yield Stack(chain, coordinator, gateway)


def ask(**fields):
    return {"model": TINY_MODEL_NAME, "messages": [{"role": "user", "content": "why is the sky blue"}],
            "max_tokens": 12, "temperature": 0, "seed": 42, **fields}


def test_a_chat_completion_is_a_paid_job_whose_receipt_hashes_the_answer(stack):
    raw = stack.client().chat.completions.with_raw_response.create(**ask())
    completion = raw.parse()
    job_id = raw.headers["x-aitbc-job-id"]
    assert completion.id == f"chatcmpl-{job_id}" and completion.object == "chat.completion"
    content = completion.choices[0].message.content
    assert content and completion.choices[0].finish_reason in ("stop", "length")
    receipt = stack.receipt(job_id)
    assert raw.headers["x-aitbc-receipt-id"] == receipt["id"]
    assert receipt["result_hash"] == jobspec.result_hash(content).hex()
    assert receipt["client"] == KEYS["alice"].address   # paid by the gateway's local key
    assert stack.chain.job(job_id)["job_type"] == "chat"
    assert completion.usage.completion_tokens == receipt["tokens_generated"]
    assert completion.usage.prompt_tokens == receipt["prompt_tokens"] > 0
    assert completion.model_extra["aitbc"]["cost"] == receipt["amount_paid"] > 0


def test_a_streamed_chat_concatenates_to_the_receipts_result(stack):
    chunks, receipt_at_first_text = [], "no text"
    for chunk in stack.client().chat.completions.create(**ask(stream=True, seed=7),
                                                        stream_options={"include_usage": True}):
        if receipt_at_first_text == "no text" and chunk.choices and chunk.choices[0].delta.content:
            on_chain = stack.chain.job(chunk.id.removeprefix("chatcmpl-")) or {}   # maybe not even submitted yet
            receipt_at_first_text = on_chain.get("receipt_id", "")
        chunks.append(chunk)
    assert len(chunks) >= 3 and all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None and last.usage.completion_tokens > 0
    facts = last.model_extra["aitbc"]
    assert chunks[0].id == f"chatcmpl-{facts['job_id']}"
    receipt = stack.receipt(facts["job_id"])
    assert (facts["receipt_id"], facts["result_hash"], facts["cost"]) == \
        (receipt["id"], receipt["result_hash"], receipt["amount_paid"])
    assert text and jobspec.result_hash(text).hex() == receipt["result_hash"]
    assert last.usage.completion_tokens == receipt["tokens_generated"]
    assert receipt_at_first_text == ""    # the first words came before the receipt was committed


def test_a_streamed_text_completion_ends_with_done(stack):
    body = {"model": TINY_MODEL_NAME, "prompt": "Once upon a time", "max_tokens": 8, "seed": 3, "stream": True}
    with httpx.stream("POST", f"{stack.gateway.url}/v1/completions", json=body, timeout=120) as response:
        assert response.status_code == 200
        job_id = response.headers["x-aitbc-job-id"]
        data = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["id"] for c in chunks} == {f"cmpl-{job_id}"}
    text = "".join(c["choices"][0]["text"] for c in chunks)
    assert jobspec.result_hash(text).hex() == stack.receipt(job_id)["result_hash"]
    assert chunks[-1]["aitbc"]["job_id"] == job_id
    assert stack.chain.job(job_id)["job_type"] == "inference"


def test_a_text_completion(stack):
    completion = stack.client().completions.create(model=TINY_MODEL_NAME, prompt="Once upon a time",
                                                   max_tokens=8, seed=5)
    job_id = completion.id.removeprefix("cmpl-")
    assert jobspec.result_hash(completion.choices[0].text).hex() == stack.receipt(job_id)["result_hash"]


def test_models_are_what_staked_miners_offer_with_prices(stack):
    models = {m.id: m for m in stack.client().models.list()}
    assert TINY_MODEL_NAME in models
    pricing = models[TINY_MODEL_NAME].model_extra["aitbc"]
    price = stack.chain.rpc.query(f"/miner/{KEYS['miner1'].address}")["price_per_second"]
    assert pricing == {"price_per_second": price, "miners": 1, "online": 1} and price > 0


def test_bad_requests_get_openais_typed_errors(stack):
    client = stack.client()
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(**ask(model="no-such-model"))
    assert (caught.value.code, caught.value.type, caught.value.param) == \
        ("model_not_found", "invalid_request_error", "model")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**ask(max_tokens=jobspec.MAX_NUM_PREDICT + 1))
    assert (caught.value.type, caught.value.param) == ("invalid_request_error", "max_tokens")
    for messages in ([], [{"role": "robot", "content": "hi"}], [{"role": "user"}], "hi"):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(**ask(messages=messages))
        assert caught.value.type == "invalid_request_error" and caught.value.message, messages
        assert set(caught.value.body) == {"message", "type", "param", "code"}
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=TINY_MODEL_NAME, prompt="x", stop=["\n"])
    assert caught.value.param == "stop"


def test_aitbc_chat_streams_a_conversation_and_prints_each_turns_receipt(stack):
    done = subprocess.run(
        [sys.executable, "-m", "aitbc.cli.main", "chat", "--model", TINY_MODEL_NAME, "--max-tokens", "6",
         "--temperature", "0", "--system", "be brief"],
        input="hello\n\nand again\n/exit\nnot asked\n", env={**stack.gateway.env}, capture_output=True,
        text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    turns = re.findall(r"\[job (\S+) · receipt (rcpt_[0-9a-f]+) · \d+ tokens · cost ", done.stderr)
    assert len(turns) == 2, done.stderr     # the empty line is skipped, /exit ends before the last line
    first, second = (stack.coordinator.client().get_job(job_id).result for job_id, _ in turns)
    assert done.stdout == f"{safe_text.terminal(first)}\n{safe_text.terminal(second)}\n"
    for (job_id, receipt_id), answer in zip(turns, (first, second)):
        receipt = stack.receipt(job_id)
        assert receipt["id"] == receipt_id and receipt["result_hash"] == jobspec.result_hash(answer).hex()
    # the second turn's prompt is the whole conversation so far
    conversation = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"},
                    {"role": "assistant", "content": first}, {"role": "user", "content": "and again"}]
    assert stack.chain.job(turns[1][0])["prompt_hash"] == jobspec.prompt_hash(jobspec.chat_prompt(conversation)).hex()

