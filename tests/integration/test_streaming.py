"""Streaming and chat jobs on the real stack: chain, coordinator, the miner daemon and a real
Ollama serving the tiny model. The client sees text before the receipt is on chain, and the
streamed text is exactly what the receipt commits to."""

# ruff: noqa: F811  (imported fixtures are redefined as test parameters)

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

from aitbc import jobspec
from aitbc.api.coordinator_client import ApiError, sign_job
from aitbc.api.coordinator_models import JobOptions
from aitbc.cli.context import Context
from aitbc.cli.main import cli
from aitbc.keyring import Keyring
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.ops.harness import CLIENT_API_KEY, MinerProcess, wait_for
from aitbc.ops.ollama_server import TINY_MODEL_NAME
from tests.integration.ollama_fixtures import (  # noqa: F401 (fixtures)
    ollama_server, tiny_model, tiny_model_path,
)

pytestmark = pytest.mark.integration

# Long enough that the text comes in several pieces; one thread keeps the tiny model repeatable.
OPTIONS = JobOptions(temperature=0, seed=42, num_predict=64)
MESSAGES = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "why is the sky blue"}]


@pytest.fixture
def miner(tmp_path, chain, coordinator, ollama_server, tiny_model):
    process = MinerProcess(tmp_path / "miners", "miner1", chain, coordinator.url, ollama_server.url,
                           model=TINY_MODEL_NAME)
    process.start()
    try:
        wait_for(lambda: any(m.online for m in coordinator.client().miners()), 60, "miner online")
        yield process
    finally:
        process.stop()


def submit(chain, coordinator, prompt: str, job_type: str = "inference") -> str:
    request = sign_job(KEYS["alice"], CHAIN_ID, chain.next_nonce("alice"), prompt, TINY_MODEL_NAME, 1_000_000,
                       OPTIONS, job_type=job_type)
    return coordinator.client().submit_job(request).job_id


def test_streamed_text_comes_before_the_receipt_and_is_what_it_commits_to(chain, coordinator, miner):
    client = coordinator.client()
    job_id = submit(chain, coordinator, "why is the sky blue")
    events, seen_at_first_token = [], None
    for event in client.stream_job(job_id):
        if event.kind == "token" and seen_at_first_token is None:
            seen_at_first_token = client.get_job(job_id)  # what the coordinator says as the first text arrives
        events.append(event)
    kinds = [e.kind for e in events]
    assert kinds[-2:] == ["result", "done"] and "replace" not in kinds, kinds
    # The tiny model may write all its text within one 50 ms batch: one token event or more.
    assert kinds.count("token") >= 1 and set(kinds[:-2]) == {"token"}, kinds
    # The first text arrived while the job still ran: no receipt on chain yet.
    assert seen_at_first_token.status in ("assigned", "running") and seen_at_first_token.receipt_id is None
    text = "".join(e.token().text for e in events if e.kind == "token")
    done = events[-1].job()
    assert done.status == "completed" and done.receipt_id and done.result == text
    on_chain = chain.rpc.query(f"/receipt/{job_id}")
    assert hashlib.sha256(text.encode()).hexdigest() == on_chain["result_hash"] == events[-2].result().result_hash
    assert events[-2].result().tokens_generated == on_chain["tokens_generated"] > 0

    # A client that connects once the job is done gets the same text in one token, then result and done.
    late = list(client.stream_job(job_id))
    assert [e.kind for e in late] == ["token", "result", "done"] and late[0].token().text == text


def test_cli_submit_stream_prints_text_then_the_final_block(tmp_path, chain, coordinator, miner):
    Keyring(tmp_path / "home" / "keys").add("alice", KEYS["alice"])
    result = CliRunner().invoke(
        cli, ["submit", "inference", "--prompt", "why is the sky blue", "--model", TINY_MODEL_NAME,
              "--num-predict", "32", "--seed", "42", "--temperature", "0", "--stream", "--timeout", "120"],
        env={"AITBC_HOME": str(tmp_path / "home"), "AITBC_URL": coordinator.url, "AITBC_API_KEY": CLIENT_API_KEY},
        obj=Context(), catch_exceptions=False)
    assert result.exit_code == 0, result.stdout + result.stderr + miner.log_path.read_text()[-3000:]
    block_start = result.stdout.index("\nJob ID: ")
    streamed, block = result.stdout[:block_start], result.stdout[block_start + 1:].splitlines()
    job = coordinator.client().get_job(block[0].removeprefix("Job ID: "))
    assert block[1] == "Status: completed" and f"Receipt: {job.receipt_id}" in block
    assert streamed.strip() and streamed == job.result.replace("\t", "    ")  # the text as it came, then the block
    assert any(line.startswith("Cost: ") for line in block)


def test_chat_job_runs_on_api_chat_and_its_receipt_verifies(chain, coordinator, miner):
    client = coordinator.client()
    prompt = jobspec.chat_prompt(MESSAGES)
    job_id = submit(chain, coordinator, prompt, "chat")
    events = list(client.stream_job(job_id))
    assert [e.kind for e in events][-2:] == ["result", "done"]
    text = "".join(e.token().text for e in events if e.kind == "token")
    job = events[-1].job()
    assert job.type == "chat" and job.status == "completed" and job.result == text
    assert chain.rpc.query(f"/job/{job_id}")["job_type"] == "chat"
    env = {"AITBC_NODE": chain.url, "AITBC_URL": coordinator.url, "AITBC_API_KEY": CLIENT_API_KEY}
    verified = CliRunner().invoke(cli, ["receipt", "verify", job_id, "--prompt", prompt], env=env, obj=Context(),
                                  catch_exceptions=False)
    assert verified.exit_code == 0 and "✗" not in verified.stdout, verified.stdout
    assert "prompt hashes to the prompt hash" in verified.stdout


def test_bad_chat_prompts_are_refused_with_a_problem(chain, coordinator, hand_miner):
    chain.register_miner("miner1", hand_miner.endpoint)
    canonical = jobspec.chat_prompt(MESSAGES)
    for prompt, why in [(canonical.replace('"messages":', '"messages": '), "canonical"),
                        (canonical.replace('"system"', '"robot"'), "role"),
                        ("why is the sky blue", "JSON")]:
        request = sign_job(KEYS["alice"], CHAIN_ID, chain.next_nonce("alice"), prompt, "m", 1_000_000,
                           job_type="chat")
        with pytest.raises(ApiError) as err:
            coordinator.client().submit_job(request)
        assert err.value.status == 400 and why in err.value.detail and "chat prompt" in err.value.detail
