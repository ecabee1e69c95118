"""State sync on real nodes: a full node joins a chain at height >= 2000 with
thousands of jobs by restoring the validator's snapshot (verified by CometBFT's
light client against the header's app hash), not by replaying from block 1."""

from __future__ import annotations

import base64

import pytest

from aitbc.ops import procs
from aitbc.ops.factories import KEYS
from aitbc.ops.harness import joining
from aitbc.rpc import ChainRPC

pytestmark = pytest.mark.integration

JOBS, TRANSFERS, SNAPSHOT_AT = 2000, 500, 2000
SNAPSHOT_INTERVAL = SNAPSHOT_AT // 2
PENDING_TIMEOUT_S = 20


@pytest.fixture
def source(tmp_path):
    (tmp_path / "source").mkdir()
    # Jobs expire PENDING_TIMEOUT_S after they are sent (60 s by default): the test waits for that.
    node = joining.fast_validator(tmp_path / "source", snapshot_interval=SNAPSHOT_INTERVAL,
                                  params={"pending_timeout_s": PENDING_TIMEOUT_S})
    node.start()
    yield node
    node.stop()


def job_pages(rpc: ChainRPC, limit: int = 500) -> list[list[dict]]:
    """Every job in state, as the paged /jobs query gives it out."""
    pages, after = [], ""
    while True:
        page = rpc.query(f"/jobs?limit={limit}" + (f"&after={after}" if after else ""))
        pages.append(page["items"])
        if not page["next"]:
            return pages
        after = page["next"]


def test_node_joins_by_state_sync(source, tmp_path):
    sent = joining.fill(source.rpc, JOBS, TRANSFERS)
    theirs = ChainRPC(source.rpc)
    # Every job sent is in the validator's state, hence in the snapshot at SNAPSHOT_AT.
    assert sorted(item["key"] for page in job_pages(theirs) for item in page) == sorted(sent)
    assert len(sent) == JOBS
    source.wait_for_height(SNAPSHOT_AT + 5, timeout=180)
    joining.wait_for_snapshot(source.home, SNAPSHOT_AT, timeout=60)
    # No tx is sent after `fill`: once every job has expired (pending_timeout_s after it was
    # sent), the state that queries read no longer changes, so a joiner that has caught up
    # must answer exactly as the validator does. (A follower of this 10 ms chain falls
    # behind once it leaves block sync, so "the same height" would be a moving target.)
    procs.wait_until(lambda: not theirs.query("/jobs/open"), 90, "every job expired")

    (tmp_path / "joiner").mkdir()
    joiner = joining.joining_node(source, tmp_path / "joiner", state_sync=True)
    joiner.start()
    ours = ChainRPC(joiner.rpc)
    try:
        joining.wait_caught_up(joiner, source.height(), timeout=150)
        status = joining.status(joiner.rpc)["sync_info"]
        # Restored, not replayed: its block store starts right after a snapshot, the one at
        # SNAPSHOT_AT or a later one (this 10 ms chain may pass the next interval while the
        # jobs expire, and state sync takes the newest snapshot its peers offer).
        restored = int(status["earliest_block_height"]) - 1
        assert restored >= SNAPSHOT_AT and restored % SNAPSHOT_INTERVAL == 0, status

        # It keeps following, and its app agrees with the validator's headers.
        followed = int(status["latest_block_height"])
        joiner.wait_for_height(followed + 20, timeout=60)
        info = ours.call("abci_info")["response"]
        height = int(info["last_block_height"])
        header = theirs.block(height + 1)["block"]["header"]
        assert bytes.fromhex(header["app_hash"]) == base64.b64decode(info["last_block_app_hash"])

        # The same answers to queries: the restored state, and the expiries since, agree.
        pages = job_pages(ours)
        assert pages == job_pages(theirs)
        assert sum(map(len, pages)) == JOBS and len(pages) > 1
        for job_id in (sent[0], sent[len(sent) // 2], sent[-1]):
            assert ours.query(f"/job/{job_id}") == theirs.query(f"/job/{job_id}")
            assert ours.query(f"/job/{job_id}")["status"] == "expired"
        for name in ("alice", "bob", "miner2"):
            assert ours.query(f"/account/{KEYS[name].address}") == theirs.query(f"/account/{KEYS[name].address}")
        assert ours.query("/supply") == theirs.query("/supply")
    finally:
        ours.close()
        theirs.close()
        joiner.stop()
