"""The coordinator's in-memory job streams: chunks in order, late readers, replace and result, and readers
woken by a job's first text and its status changes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from aitbc.api.coordinator_client import parse_sse
from aitbc.coordinator import job_state
from aitbc.coordinator.http import event_stream
from aitbc.coordinator.http.event_stream import frame
from aitbc.coordinator.job_streams import (
    KEEP_AFTER_RESULT_S, KEEP_IDLE_S, ChunkRefused, JobStreams, StreamReader,
)
from aitbc.coordinator.store import Store


def kinds(events) -> list[tuple[str, dict]]:
    return [(e.kind, e.data) for e in events]


def test_chunks_in_order_and_a_retry_is_acknowledged_once() -> None:
    streams = JobStreams()
    assert streams.append("j", "m1", 0, "Hel") == 1
    assert streams.append("j", "m1", 1, "lo") == 2
    assert streams.append("j", "m1", 1, "lo") == 2  # the same chunk again: nothing added
    with pytest.raises(ChunkRefused, match="expected 2"):
        streams.append("j", "m1", 3, "!")
    assert streams.get("j").current_text() == "Hello"


def test_late_reader_catches_up_in_one_token_then_follows() -> None:
    streams = JobStreams()
    streams.append("j", "m1", 0, "a")
    streams.append("j", "m1", 1, "b")
    reader = StreamReader(streams, "j")
    assert kinds(reader.pending()) == [("token", {"seq": 1, "text": "ab"})]
    assert reader.pending() == []
    streams.append("j", "m1", 2, "c")
    assert kinds(reader.pending()) == [("token", {"seq": 2, "text": "c"})]
    streams.settle("j", "abc", "h", 3, 2)
    assert kinds(reader.pending()) == [("result", {"result_hash": "h", "tokens_generated": 3, "prompt_tokens": 2})]
    assert reader.text == "abc" and reader.result_sent
    assert reader.settle("abc", "h", 3, 2) == []  # the live stream already brought it


def test_result_that_differs_from_the_stream_replaces_it() -> None:
    streams = JobStreams()
    streams.append("j", "m1", 0, "wrong")
    streams.settle("j", "right", "h", 1, 1)
    reader = StreamReader(streams, "j")
    assert [e.kind for e in reader.pending()] == ["token", "replace", "result"]
    assert reader.text == "right"
    with pytest.raises(ChunkRefused):
        streams.append("j", "m1", 1, "more")  # nothing after the verified result


def test_the_text_no_chunk_brought_follows_as_a_token_before_the_result() -> None:
    """A miner posts its completion without waiting for its last chunk: when the completion comes
    first, the end of the text comes from it."""
    streams = JobStreams()
    streams.append("j", "m1", 0, "Hel")
    reader = StreamReader(streams, "j")
    reader.pending()
    streams.settle("j", "Hello", "h", 2, 1, miner="m1")
    assert kinds(reader.pending()) == [("token", {"seq": 1, "text": "lo"}),
                                       ("result", {"result_hash": "h", "tokens_generated": 2, "prompt_tokens": 1})]
    assert reader.text == "Hello"
    with pytest.raises(ChunkRefused):  # the last chunk, late
        streams.append("j", "m1", 1, "lo")


def test_a_result_without_chunks_streams_as_one_token() -> None:
    streams = JobStreams()
    streams.settle("j", "all of it", "h", 3, 1, miner="m1")
    assert kinds(StreamReader(streams, "j").pending())[0] == ("token", {"seq": 0, "text": "all of it"})


def test_a_result_that_does_not_continue_the_stream_replaces_it() -> None:
    streams = JobStreams()
    streams.append("j", "m1", 0, "streamed")
    streams.settle("j", "something else", "h", 2, 1, miner="m1")
    reader = StreamReader(streams, "j")
    assert [e.kind for e in reader.pending()] == ["token", "replace", "result"]
    assert reader.text == "something else"


def test_a_settled_stream_refuses_the_chunks_of_its_miner() -> None:
    """settle() without text from the miner before: a chunk of its arriving after the result
    once made the stream start over after the result event."""
    streams = JobStreams()
    streams.settle("j", "text", "h", 1, 1, miner="m1")
    with pytest.raises(ChunkRefused):
        streams.append("j", "m1", 0, "text")
    assert [e.kind for e in StreamReader(streams, "j").pending()] == ["token", "result"]


def test_another_miner_starts_the_text_over() -> None:
    streams = JobStreams()
    streams.append("j", "m1", 0, "first try")
    reader = StreamReader(streams, "j")
    reader.pending()
    assert streams.append("j", "m2", 0, "second") == 1
    assert kinds(reader.pending()) == [("replace", {"text": ""}), ("token", {"seq": 0, "text": "second"})]
    assert reader.text == "second"


def test_reader_without_a_live_stream_settles_from_the_store() -> None:
    reader = StreamReader(JobStreams(), "j")
    assert reader.pending() == []
    assert kinds(reader.settle("all of it", "h", 4, 2)) == [
        ("token", {"seq": 0, "text": "all of it"}),
        ("result", {"result_hash": "h", "tokens_generated": 4, "prompt_tokens": 2})]
    assert reader.settle(None, None, 0, 0) == []


def test_streams_are_dropped_after_their_result_or_a_long_silence() -> None:
    streams = JobStreams()
    streams.append("settled", "m", 0, "x")
    streams.settle("settled", "x", "h", 1, 1)
    streams.append("running", "m", 0, "y")
    now = streams.get("running").touched
    streams.prune(now + KEEP_AFTER_RESULT_S + 1)
    assert streams.get("settled") is None and streams.get("running") is not None
    streams.prune(now + KEEP_IDLE_S + 1)
    assert len(streams) == 0


def test_stream_has_a_size_limit() -> None:
    streams = JobStreams()
    with pytest.raises(ChunkRefused):
        for seq in range(100):
            streams.append("j", "m", seq, "x" * 60_000)


def test_reader_wakes_on_new_text() -> None:
    async def go() -> list:
        streams = JobStreams()
        streams.append("j", "m", 0, "a")
        reader = StreamReader(streams, "j")
        reader.pending()
        waiting = asyncio.create_task(reader.wait(5))
        await asyncio.sleep(0.01)
        streams.append("j", "m", 1, "b")
        await asyncio.wait_for(waiting, 1)  # well before the 5 s timeout
        return kinds(reader.pending())

    assert asyncio.run(go()) == [("token", {"seq": 1, "text": "b"})]


def test_readers_waiting_before_any_text_wake_on_the_first_chunk() -> None:
    """A client follows its job right after submitting it, before the miner sent anything: its
    reader is woken by the first chunk, not by its next look (the stream's POLL_S later)."""
    async def go() -> tuple[list, list, float, int]:
        streams = JobStreams()
        readers = [StreamReader(streams, "j"), StreamReader(streams, "j")]
        assert all(r.pending() == [] for r in readers)
        start = asyncio.get_running_loop().time()
        waiting = [asyncio.create_task(r.wait(5)) for r in readers]
        await asyncio.sleep(0.01)
        streams.append("j", "m", 0, "a")
        await asyncio.wait_for(asyncio.gather(*waiting), 1)
        took = asyncio.get_running_loop().time() - start
        return kinds(readers[0].pending()), kinds(readers[1].pending()), took, len(streams._waiting)

    first, second, took, left = asyncio.run(go())
    assert first == second == [("token", {"seq": 0, "text": "a"})]
    assert took < 1  # the 5 s timeout did not pass
    assert left == 0


def test_a_result_without_streamed_text_wakes_a_waiting_reader() -> None:
    async def go() -> list:
        streams = JobStreams()
        reader = StreamReader(streams, "j")
        waiting = asyncio.create_task(reader.wait(5))
        await asyncio.sleep(0.01)
        streams.settle("j", "all at once", "h", 3, 1)
        await asyncio.wait_for(waiting, 1)
        return [e.kind for e in reader.pending()]

    assert asyncio.run(go()) == ["token", "result"]


def test_a_wait_for_a_job_that_never_streams_ends_at_its_timeout_and_leaves_nothing() -> None:
    async def go() -> tuple[float, int, int]:
        streams = JobStreams()
        readers = [StreamReader(streams, "j"), StreamReader(streams, "j")]
        start = asyncio.get_running_loop().time()
        first = asyncio.create_task(readers[0].wait(0.05))
        await asyncio.sleep(0.01)
        second = asyncio.create_task(readers[1].wait(0.3))
        await first
        kept_while_one_waits = len(streams._waiting)
        await second
        return asyncio.get_running_loop().time() - start, kept_while_one_waits, len(streams._waiting)

    took, kept_while_one_waits, left = asyncio.run(go())
    assert took >= 0.3
    assert kept_while_one_waits == 1 and left == 0


def test_server_sent_events_round_trip_through_the_client_parser() -> None:
    text = frame("token", {"seq": 0, "text": "line one\nline two é"}) + ": ping\n\n" + frame("done", {"x": 1})
    events = list(parse_sse(text.splitlines()))
    assert [(e.kind, e.data) for e in events] == [("token", {"seq": 0, "text": "line one\nline two é"}),
                                                  ("done", {"x": 1})]
    assert events[0].token().text == "line one\nline two é"


def test_the_event_stream_sends_first_text_and_done_as_they_happen_not_at_its_polls(tmp_path, monkeypatch) -> None:
    """Over the real stream generator and store, wired as the coordinator wires them: with the
    stream's fallback poll at 5 s, the first text and the `done` after the receipt still come at once."""
    monkeypatch.setattr(event_stream, "POLL_S", 5.0)
    store, streams = Store(tmp_path / "c.db"), JobStreams()
    store.on_job_changed = streams.job_changed  # as Coordinator.__init__ does
    job = job_state.insert_pending(store, id="job_1", api_key_hash="h", client="c", type="inference", model="m",
                                   prompt="p", options="{}", max_reward=7, signed_tx=b"", tx_hash="t")
    job_state.mark_assigned(store, job, "m1")

    async def go() -> tuple[list[str], list[float]]:
        events = event_stream.job_events(SimpleNamespace(store=store, streams=streams), "job_1")
        loop = asyncio.get_running_loop()
        start, kinds_seen, took = loop.time(), [], []
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.05)
        streams.append("job_1", "m1", 0, "hello")
        kinds_seen.append((await asyncio.wait_for(first, 2)).split("\n", 1)[0])
        took.append(loop.time() - start)
        streams.settle("job_1", "hello", "h", 1, 1)
        kinds_seen.append((await asyncio.wait_for(anext(events), 2)).split("\n", 1)[0])
        last = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.05)
        job_state.mark_completed(store, store.get_job("job_1"), {"id": "r1", "amount_paid": 5, "refund": 2,
                                                                 "block_height": 9, "miner": "m1"})
        start = loop.time()
        kinds_seen.append((await asyncio.wait_for(last, 2)).rsplit("event: ", 1)[1].split("\n", 1)[0])
        took.append(loop.time() - start)
        return kinds_seen, took

    try:
        kinds_seen, took = asyncio.run(go())
    finally:
        store.close()
    assert kinds_seen == ["event: token", "event: result", "done"]
    assert all(t < 1 for t in took), took  # not the 5 s poll
