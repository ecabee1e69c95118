"""A client's jobs after its node crashed with one of its submit_job txs in the mempool.

Found by the fault suite (kill -9 of the coordinator's node under load), reduced
here to a single node and two jobs:

1. job A (nonce N) is accepted (201); its tx sits in the node's mempool;
2. the node is killed (-9) before the next block: A's tx is gone with the mempool;
3. job B (nonce N+1) is posted while the node is down: 503 "stored and will be
   broadcast", and the same request again answers 200 (the stored job);
4. the node comes back. The coordinator's tracker finds A lost and stores it for
   a new broadcast, but broadcasts the stored B first: NONCE_TOO_HIGH, so B is
   failed for good ("never made it on chain"). A is then re-sent and committed.

The chain now expects nonce N+1 from the client, and the coordinator refuses every
job with that nonce (409 "job ... already exists (nonce N+1 is used)") while jobs
with N+2 get 409 NONCE_TOO_HIGH: the client cannot submit any job again.

Fixed in the coordinator: a stored client tx refused with NONCE_TOO_HIGH waits for
its predecessor (coordinator/tracker.py broadcast_stored), and a job whose submit tx
never reached the chain no longer holds its nonce (coordinator/job_submission.py submit).
"""

from __future__ import annotations

import pytest

from aitbc.ops import procs
from aitbc.api.coordinator_client import ApiError, sign_job
from aitbc.ops.factories import CHAIN_ID, KEYS
from aitbc.ops.harness import MODEL, wait_for

pytestmark = pytest.mark.faults


def test_client_can_submit_again_after_its_node_crashed_with_its_tx_in_the_mempool(chain, coordinator_factory):
    coordinator = coordinator_factory(tx_lost_after_s=3)
    chain.register_miner("miner1", "http://127.0.0.1:9")  # a model on offer; nobody runs the jobs
    client = coordinator.client()
    nonce = chain.next_nonce("alice")

    def job(n: int, prompt: str):
        return sign_job(KEYS["alice"], CHAIN_ID, n, prompt, MODEL, 1_000_000)

    first = client.submit_job(job(nonce, "first"))              # 201, its tx in the node's mempool
    procs.kill9(chain.node.cometbft)                             # the node dies before the next block
    procs.kill9(chain.node.app)
    second = job(nonce + 1, "second")
    with pytest.raises(ApiError) as refused:
        client.submit_job(second)
    assert refused.value.status == 503 and "stored" in refused.value.detail
    assert client.submit_job(second).job_id                      # the same request again: 200, accepted
    chain.node.start()
    chain.node.wait_for_height(chain.node.height() + 1)

    lost = wait_for(lambda: [e for e in coordinator.log_events("tx_lost") if e.get("job_id") == first.job_id],
                    30, "the first job's tx found lost")
    if not lost:  # pragma: no cover - the node made a block before it died: nothing to show
        pytest.skip("the first tx was committed before the kill")
    wait_for(lambda: chain.job(first.job_id), 30, "the first job re-sent and on chain")

    # The client asks which nonce to use next, signs, and must be able to submit.
    next_nonce = client.account(KEYS["alice"].address).nonce
    third = client.submit_job(job(next_nonce, "third"))
    assert third.job_id
