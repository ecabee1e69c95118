"""A steady background load of jobs and transfers, and the books to check it.

Jobs go the way a client sends them: a `submit_job` tx signed with the client's
key, posted to the coordinator (`CoordinatorClient.submit_job`), run by a real
miner on a real Ollama. A job the coordinator could not be reached for is
retried with the same signed tx (submitting is idempotent), as the CLI would.

Transfers are signed txs sent with `broadcast_tx_sync` to different nodes: sender
i prefers node i, and moves to the next node when its node does not answer.

A watcher follows every block (`block` + `block_results`) and records when each
transfer was committed (and with which code) and when each job reached a final
status (the `job` events of txs and of FinalizeBlock, which covers expiry).

Every number here is a count or a duration measured for the report; the checks
(`settle`, `problems`) are about outcomes, never about timing.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from aitbc import tx as txlib
from aitbc.codes import Code
from aitbc.crypto import PrivateKey
from aitbc.jobspec import FINAL
from aitbc.rpc import ChainError, ChainRPC, QueryFailed, RPCError, block_txs, decode_events
from aitbc.api.coordinator_client import ApiError, CoordinatorClient, CoordinatorUnavailable, sign_job
from aitbc.api.coordinator_models import JobOptions

REFUNDED = ("failed", "expired", "cancelled")
RETRYABLE_HTTP = (429, 500, 502, 503, 504)
MAX_REWARD = 1_000_000  # 1 AITBC: far above what a tiny job costs


@dataclass
class JobRec:
    job_id: str
    client: str
    nonce: int
    phase: str
    submitted_at: float
    outcome: str = "trying"       # accepted | rejected | unknown (no answer in time)
    reason: str = ""
    attempts: int = 0
    accepted_at: float | None = None
    status: str = ""              # last status seen on chain
    final_at: float | None = None
    final_height: int = 0
    record: dict[str, Any] | None = None   # the chain's job record once final


@dataclass
class TransferRec:
    hash: str
    sender: str
    recipient: str
    amount: int
    nonce: int
    node: int
    phase: str
    sent_at: float
    outcome: str = "sent"         # accepted | rejected | unknown
    reason: str = ""
    dropped: bool = False         # accepted, then gone: its nonce was used by another tx, or no mempool has it
    committed_at: float | None = None
    height: int = 0
    code: int | None = None


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p99 (nearest rank) and max, in seconds with 3 decimals."""
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, int(-(-p * len(ordered) // 100)) - 1))], 3)

    return {"n": len(ordered), "p50": rank(50), "p90": rank(90), "p99": rank(99), "max": round(ordered[-1], 3)}


class LoadGenerator:
    """Background threads: one submitting jobs, one per transfer account, one watching blocks."""

    def __init__(self, chain_id: str, node_urls: list[str], coordinator_url: str, api_key: str,
                 job_key: PrivateKey, transfer_keys: list[PrivateKey], job_rate: float, transfer_rate: float,
                 model: str = "aitbc-tiny", num_predict: int = 8, rpc_timeout: float = 3.0,
                 submit_retry_s: float = 45.0, seed: int = 1):
        self.chain_id, self.node_urls = chain_id, list(node_urls)
        self.coordinator_url, self.api_key = coordinator_url, api_key
        self.job_key, self.transfer_keys = job_key, list(transfer_keys)
        self.job_rate, self.transfer_rate = job_rate, transfer_rate
        self.model, self.num_predict = model, num_predict
        self.rpc_timeout, self.submit_retry_s = rpc_timeout, submit_retry_s
        self.random = random.Random(seed)
        self.phase = "start"
        self.jobs: dict[str, JobRec] = {}
        self.transfers: dict[str, TransferRec] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._jobs_on = threading.Event()
        self._jobs_idle = threading.Event()
        self._threads: list[threading.Thread] = []
        self._suspect: dict[int, float] = {}   # node index -> monotonic time until which we avoid it
        self.watched_height = 0
        self.fees: list[tuple[int, str, int]] = []  # (height, sender, fee) of every tx that burned one
        self.watcher_errors = 0
        self.job_nonces: dict[str, int | None] = {}  # next nonce per job client (None: ask)
        self.job_coordinator: str | None = None  # what submit_job names: the coordinator's job_coordinator
        self.settled_before = 0.0  # transfers sent after the last settle() began may still be in flight

    # --- control -------------------------------------------------------------------------------
    def start(self) -> "LoadGenerator":
        self.watched_height = self._latest_height()
        self._jobs_on.set()
        self._spawn(self._watch_loop, "watch")
        if self.job_rate > 0:
            self._spawn(self._jobs_loop, "jobs")
        else:
            self._jobs_idle.set()
        if self.transfer_rate > 0:
            for i in range(len(self.transfer_keys)):
                self._spawn(lambda i=i: self._transfer_loop(i), f"transfers-{i}")
        return self

    def _spawn(self, target, name: str) -> None:
        thread = threading.Thread(target=target, name=f"load-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._jobs_on.set()
        for thread in self._threads:
            thread.join(self.submit_retry_s + 15)

    def threads_alive(self) -> dict[str, bool]:
        """Each background thread of the load (the watcher, the job and transfer senders): still running?"""
        return {thread.name: thread.is_alive() for thread in self._threads}

    def stop_sending(self) -> None:
        """Stop new jobs and transfers; the watcher keeps following blocks."""
        self.pause_jobs()
        self.transfer_rate = 0

    def pause_jobs(self, timeout: float | None = None) -> None:
        """No new jobs after the one being submitted (waits until it has an answer)."""
        self._jobs_on.clear()
        self._jobs_idle.wait(timeout if timeout is not None else self.submit_retry_s + 15)

    def resume_jobs(self) -> None:
        self._jobs_on.set()

    def set_phase(self, phase: str, job_key: PrivateKey | None = None) -> None:
        """Name what follows (counts are kept per phase); optionally sign jobs with another client key."""
        if job_key is not None:
            self.pause_jobs()
            self.job_key = job_key
            self.resume_jobs()
        self.phase = phase

    def completed_job_after(self, since: float, timeout: float) -> JobRec | None:
        """Wait for a job submitted after `since` (monotonic) that is accepted and completed on chain."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for job in self.jobs.values():
                    if job.submitted_at > since and job.outcome == "accepted" and job.status == "completed":
                        return job
            time.sleep(0.3)
        return None

    def answers_after(self, since: float) -> dict[str, int]:
        """What the coordinator answered to the jobs submitted after `since`."""
        with self.lock:
            return dict(Counter(f"{j.outcome}: {j.reason}" if j.reason else j.outcome
                                for j in self.jobs.values() if j.submitted_at > since))

    # --- jobs ----------------------------------------------------------------------------------
    def _jobs_loop(self) -> None:
        client = CoordinatorClient(self.coordinator_url, self.api_key, timeout=10, backoff_s=0.2)
        next_at, n = time.monotonic(), 0
        try:
            while not self._stop.is_set():
                if not self._jobs_on.is_set():
                    self._jobs_idle.set()
                    self._jobs_on.wait()
                    next_at = time.monotonic()
                    continue
                self._jobs_idle.clear()
                if not self._jobs_on.is_set() or self._stop.is_set():
                    continue
                n += 1
                self._submit_one(client, n)
                next_at = max(next_at + 1 / self.job_rate, time.monotonic() - 1)
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            self._jobs_idle.set()
            client.close()

    def _resync_job_nonce(self, client: CoordinatorClient, address: str) -> int:
        try:
            return client.account(address).nonce
        except Exception:  # noqa: BLE001 - the coordinator may be down: ask the nodes
            return int(self._query_any(f"/nonce/{address}")["nonce"])

    def _submit_one(self, client: CoordinatorClient, n: int) -> None:
        key = self.job_key
        if self.job_nonces.get(key.address) is None:
            try:
                self.job_nonces[key.address] = self._resync_job_nonce(client, key.address)
            except Exception:  # noqa: BLE001 - nothing answers: try again next tick
                return
        if self.job_coordinator is None:
            try:
                self.job_coordinator = client.chain().job_coordinator
            except Exception:  # noqa: BLE001 - the coordinator does not answer: try again next tick
                return
        nonce = self.job_nonces[key.address]
        job_id = txlib.job_id_for(key.address, nonce, self.chain_id)
        prompt = f"load job {n}: say something about fault tolerance"
        request = sign_job(key, self.chain_id, nonce, prompt, self.model, MAX_REWARD,
                           JobOptions(temperature=0, seed=n, num_predict=self.num_predict),
                           coordinator=self.job_coordinator)
        rec = JobRec(job_id, key.address, nonce, self.phase, time.monotonic())
        with self.lock:
            self.jobs[job_id] = rec
        deadline = rec.submitted_at + self.submit_retry_s
        while True:
            rec.attempts += 1
            try:
                client.submit_job(request)
            except CoordinatorUnavailable:
                rec.reason = "coordinator unreachable"
            except ApiError as err:
                rec.reason = f"HTTP {err.status} {err.title}"
                # NONCE_TOO_HIGH: an earlier tx of ours is not in the node's mempool (yet, or again: the
                # coordinator re-broadcasts a client tx that vanished); the same tx will fit after it
                if err.status not in RETRYABLE_HTTP and "NONCE_TOO_HIGH" not in err.title:
                    rec.outcome = "rejected"
                    self.job_nonces[key.address] = None  # not taken: ask which nonce is next
                    return
            else:
                rec.outcome, rec.accepted_at = "accepted", time.monotonic()
                self.job_nonces[key.address] = nonce + 1
                return
            if time.monotonic() > deadline or self._stop.is_set():
                rec.outcome = "unknown"  # it may still reach the chain (the coordinator stores before it sends)
                self.job_nonces[key.address] = None
                return
            time.sleep(0.5)

    # --- transfers -----------------------------------------------------------------------------
    def _node_for(self, preferred: int) -> int:
        now = time.monotonic()
        for step in range(len(self.node_urls)):
            index = (preferred + step) % len(self.node_urls)
            if self._suspect.get(index, 0) < now:
                return index
        return preferred

    def _transfer_loop(self, i: int) -> None:
        key = self.transfer_keys[i]
        recipient = self.transfer_keys[(i + 1) % len(self.transfer_keys)].address
        rpcs = {j: ChainRPC(url, timeout=self.rpc_timeout) for j, url in enumerate(self.node_urls)}
        nonce: int | None = None
        next_at = time.monotonic() + self.random.random()
        try:
            while not self._stop.is_set():
                rate = self.transfer_rate / len(self.transfer_keys)
                if rate <= 0:
                    self._stop.wait(0.2)
                    continue
                node = self._node_for(i % len(self.node_urls))
                rpc = rpcs[node]
                if nonce is None:
                    try:
                        nonce = int(rpc.query(f"/nonce/{key.address}")["nonce"])
                    except ChainError:
                        self._suspect[node] = time.monotonic() + 5
                        self._stop.wait(0.2)
                        continue
                amount = self.random.randint(1, 999)
                raw = txlib.build(key, self.chain_id, nonce, "transfer", to=recipient, amount=amount)
                rec = TransferRec(txlib.tx_hash(raw), key.address, recipient, amount, nonce,
                                  node, self.phase, time.monotonic())
                with self.lock:
                    self.transfers[rec.hash] = rec
                nonce = self._send_transfer(rpc, raw, rec, nonce)
                next_at = max(next_at + 1 / rate, time.monotonic() - 1)
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            for rpc in rpcs.values():
                rpc.close()

    def _send_transfer(self, rpc: ChainRPC, raw: bytes, rec: TransferRec, nonce: int) -> int | None:
        """Broadcast; returns the nonce to use next (None: ask the node)."""
        for attempt in range(4):
            try:
                result = rpc.broadcast(raw, "sync")
            except RPCError as err:   # e.g. the node's duplicate cache
                rec.outcome, rec.reason = "rejected", f"RPC error: {str(err)[:60]}"
                return None
            except ChainError as err:  # no answer: it may or may not be in that node's mempool
                rec.outcome, rec.reason = "unknown", f"node{rec.node} did not answer"
                self._suspect[rec.node] = time.monotonic() + 5
                return None
            if result.ok:
                rec.outcome = "accepted"
                return nonce + 1
            if result.code == Code.NONCE_TOO_HIGH and attempt < 3:
                time.sleep(0.3)  # our previous tx has not reached this node's mempool yet
                continue
            rec.outcome, rec.reason = "rejected", result.code_name
            return None
        return None

    # --- watching blocks -------------------------------------------------------------------------
    def _latest_height(self) -> int:
        for url in self.node_urls:
            rpc = ChainRPC(url, timeout=self.rpc_timeout)
            try:
                return int(rpc.status()["sync_info"]["latest_block_height"])
            except ChainError:
                continue
            finally:
                rpc.close()
        raise RuntimeError("no node answers")

    def _watch_loop(self) -> None:
        rpcs = [ChainRPC(url, timeout=self.rpc_timeout) for url in self.node_urls]
        current = 0
        try:
            while True:
                stopping = self._stop.is_set()
                rpc = rpcs[current]
                try:
                    latest = int(rpc.status()["sync_info"]["latest_block_height"])
                    while self.watched_height < latest:
                        self._process_block(rpc, self.watched_height + 1)
                        self.watched_height += 1
                except (ChainError, KeyError, ValueError, TypeError):
                    self.watcher_errors += 1
                    current = (current + 1) % len(rpcs)
                if stopping:
                    return
                self._stop.wait(0.2)
        finally:
            for rpc in rpcs:
                rpc.close()

    def _process_block(self, rpc: ChainRPC, height: int) -> None:
        txs = block_txs(rpc.block(height))
        results = rpc.block_results(height)
        now = time.monotonic()
        tx_results = results.get("txs_results") or []
        events = list(decode_events(results.get("finalize_block_events") or []))
        with self.lock:
            for index, raw in enumerate(txs):
                tx_hash = txlib.tx_hash(raw)
                result = tx_results[index] if index < len(tx_results) else {}
                tx_events = list(decode_events(result.get("events") or []))
                events += tx_events
                for event in tx_events:  # every tx that got past the ante step burned its fee, ok or not
                    if event["type"] == "message" and "fee" in event["attributes"]:
                        self.fees.append((height, event["attributes"]["sender"], int(event["attributes"]["fee"])))
                rec = self.transfers.get(tx_hash)
                if rec is not None and rec.committed_at is None:
                    rec.committed_at, rec.height, rec.code = now, height, int(result.get("code", 0))
            for event in events:
                if event["type"] != "job":
                    continue
                job = self.jobs.get(event["attributes"].get("id", ""))
                status = event["attributes"].get("status", "")
                if job is None or not status:
                    continue
                job.status = status
                if status in FINAL and job.final_at is None:
                    job.final_at, job.final_height = now, height

    # --- queries -------------------------------------------------------------------------------
    def _query_any(self, path: str) -> Any:
        return query_any(self.node_urls, path, self.rpc_timeout)

    def chain_job(self, job_id: str) -> dict[str, Any] | None:
        """The job's record on chain (any node that answers), or None while it is not in a block."""
        try:
            return self._query_any(f"/job/{job_id}")
        except QueryFailed:
            return None

    def coordinator_status(self, job_id: str) -> str:
        """What the coordinator says of the job, or "unknown (<error>)" when it does not answer."""
        try:
            with CoordinatorClient(self.coordinator_url, self.api_key, timeout=5, backoff_s=0.2) as client:
                return client.get_job(job_id).status
        except Exception as err:  # noqa: BLE001 - reported as what it is
            return f"unknown ({type(err).__name__})"

    # --- the books -----------------------------------------------------------------------------
    def settle(self, timeout: float = 120) -> None:
        """Wait until every accepted (or unanswered) job is final on chain and every accepted
        transfer is in a block, or `timeout` passes; then read the final job records."""
        cutoff = time.monotonic()  # transfers may go on meanwhile: wait for those sent before now
        self.settled_before = cutoff
        deadline = cutoff + timeout
        while time.monotonic() < deadline:
            with self.lock:
                open_jobs = [j for j in self.jobs.values() if j.outcome in ("accepted", "trying")
                             and j.final_at is None]
                pending = [t for t in self.transfers.values() if t.outcome == "accepted" and t.committed_at is None
                           and not t.dropped and t.sent_at < cutoff]
            if pending:
                self._find_dropped(pending)
                pending = [t for t in pending if not t.dropped and t.committed_at is None]
            if not open_jobs and not pending:
                break
            # a job whose final event we could not see (or that never reached the chain) is asked for
            for job in open_jobs:
                if time.monotonic() - (job.accepted_at or job.submitted_at) > 20:
                    self._refresh_job(job)
            time.sleep(1)
        for job in list(self.jobs.values()):
            if job.outcome in ("accepted", "unknown", "trying") and job.record is None:
                self._refresh_job(job)

    def _find_dropped(self, pending: list[TransferRec]) -> None:
        """Mark accepted transfers that can no longer be committed: their sender's committed nonce has
        passed theirs (another tx took it), or no node's mempool holds them (a node that had them
        crashed). CometBFT's mempool is not durable: a client must watch for inclusion and resend."""
        nonces: dict[str, int] = {}
        heights = [0]
        try:
            for sender in {t.sender for t in pending}:
                rpc = ChainRPC(self.node_urls[0], timeout=self.rpc_timeout)
                try:
                    account, height = rpc.query_at(f"/account/{sender}")
                finally:
                    rpc.close()
                nonces[sender] = int(account["nonce"])
                heights.append(height)
            in_mempools: set[str] = set()
            for url in self.node_urls:
                rpc = ChainRPC(url, timeout=self.rpc_timeout)
                try:
                    answer = rpc.call("unconfirmed_txs", limit="100")
                    if int(answer["total"]) > len(answer.get("txs") or []):
                        return  # more than one page: we cannot tell
                    in_mempools |= {txlib.tx_hash(base64.b64decode(b))
                                    for b in answer.get("txs") or []}
                    heights.append(int(rpc.status()["sync_info"]["latest_block_height"]))
                finally:
                    rpc.close()
        except (ChainError, KeyError, ValueError):
            return  # a node we cannot ask may hold them
        # whatever left a mempool for a block did so by max(heights): the watcher must have seen that block
        deadline = time.monotonic() + 10
        while self.watched_height < max(heights) and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.watched_height < max(heights):
            return
        with self.lock:
            for t in pending:
                if t.committed_at is None and (t.nonce < nonces[t.sender] or t.hash not in in_mempools):
                    t.dropped = True

    def _refresh_job(self, job: JobRec) -> None:
        record = self.chain_job(job.job_id)
        if record is None:
            # never on chain: final once the coordinator has given up on it (nothing was locked)
            if job.outcome == "accepted" and job.final_at is None \
                    and self.coordinator_status(job.job_id) in FINAL:
                job.final_at, job.status = time.monotonic(), "failed before chain"
            return
        job.status = record["status"]
        if record["status"] in FINAL:
            job.record = record
            if job.final_at is None:
                job.final_at, job.final_height = time.monotonic(), record.get("finished_height", 0)
            if job.outcome == "unknown":
                job.outcome = "accepted"  # the coordinator took it after all (stored, then sent)

    def job_summary(self, phase: str | None = None) -> dict[str, Any]:
        """Counts of accepted/completed/refunded/lost jobs (optionally of one phase) and their problems."""
        with self.lock:
            jobs = [j for j in self.jobs.values() if phase is None or j.phase == phase]
        out: Counter = Counter()
        rejected: Counter = Counter()
        problems: list[str] = []
        latencies: list[float] = []
        for job in jobs:
            out["submitted"] += 1
            out["submit_retries"] += job.attempts - 1
            if job.submitted_at >= self.settled_before and job.record is None and job.outcome != "rejected":
                out["in_flight"] += 1  # sent after the books were last settled: not judged yet
                continue
            if job.outcome == "rejected":
                rejected[job.reason] += 1
                continue
            if job.outcome in ("unknown", "trying"):
                # no answer in time: fine if it never reached the chain (nothing locked)
                if job.record is None and self.chain_job(job.job_id) is None:
                    rejected[f"no answer ({job.reason})"] += 1
                    continue
                if job.record is None:
                    out["lost"] += 1
                    problems.append(f"{job.job_id}: reached the chain without an answer and is not final")
                    continue
            out["accepted"] += 1
            record = job.record
            if record is None:
                on_chain = self.chain_job(job.job_id)
                if on_chain is None and self.coordinator_status(job.job_id) == "failed":
                    out["failed_before_chain"] += 1  # never funded: nothing to refund
                    continue
                out["lost"] += 1
                problems.append(f"{job.job_id} (phase {job.phase}): accepted, on chain "
                                f"{on_chain['status'] if on_chain else 'never'}, not completed or refunded")
                continue
            reward, refund, paid = record["max_reward"], record["refund"], record["payment"]
            if record["status"] == "completed":
                out["completed"] += 1
                if paid + refund + record.get("check_paid", 0) != reward:
                    problems.append(f"{job.job_id}: paid {paid} + refund {refund} != max reward {reward}")
            elif record["status"] in REFUNDED:
                out["refunded"] += 1
                out[f"refunded_{record['status']}"] += 1
                if refund != reward or paid:
                    problems.append(f"{job.job_id}: {record['status']} but refunded {refund} of {reward}, paid {paid}")
            if job.final_at is not None:
                latencies.append(job.final_at - job.submitted_at)
        summary = {k: out.get(k, 0) for k in ("submitted", "accepted", "completed", "refunded", "lost")}
        summary.update({k: v for k, v in out.items() if k not in summary})
        summary["rejected"] = dict(rejected)
        summary["latency_submit_to_final_s"] = percentiles(latencies)
        summary["problems"] = problems
        return summary

    def transfer_summary(self, phase: str | None = None, committed_by: int | None = None) -> dict[str, Any]:
        with self.lock:
            transfers = [t for t in self.transfers.values() if phase is None or t.phase == phase]
        out: Counter = Counter()
        rejected: Counter = Counter()
        dropped_at: Counter = Counter()
        latencies: list[float] = []
        for t in transfers:
            out["sent"] += 1
            if t.outcome == "rejected":
                rejected[t.reason] += 1
            elif t.outcome == "accepted":
                out["accepted"] += 1
            else:
                out["no_answer"] += 1
            if t.committed_at is not None:
                out["committed_ok" if t.code == 0 else "committed_failed"] += 1
                if t.outcome == "accepted":
                    latencies.append(t.committed_at - t.sent_at)
            elif t.outcome == "accepted" and t.dropped:
                out["dropped"] += 1  # accepted into a mempool, then gone from every mempool, never in a block
                dropped_at[f"node{t.node}"] += 1
            elif t.outcome == "accepted" and t.sent_at >= self.settled_before:
                out["in_flight"] += 1  # sent while the books were being read
            elif t.outcome == "accepted":
                out["lost"] += 1   # accepted, neither in a block nor known to be gone
        summary = {k: out.get(k, 0) for k in ("sent", "accepted", "committed_ok", "committed_failed", "lost",
                                               "dropped", "in_flight", "no_answer")}
        summary["dropped_by_node"] = dict(dropped_at)
        summary["rejected"] = dict(rejected)
        summary["latency_broadcast_to_commit_s"] = percentiles(latencies)
        return summary

    def fees_paid(self, up_to_height: int) -> dict[str, int]:
        """Fees burned per sender in the blocks up to `up_to_height`."""
        paid: dict[str, int] = {}
        with self.lock:
            for height, sender, fee in self.fees:
                if height <= up_to_height:
                    paid[sender] = paid.get(sender, 0) + fee
        return paid

    def committed_transfers(self, up_to_height: int) -> list[TransferRec]:
        with self.lock:
            return [t for t in self.transfers.values() if t.committed_at is not None and t.code == 0
                    and t.height <= up_to_height]


def query_any(node_urls: list[str], path: str, timeout: float = 5) -> Any:
    """abci_query on the first node that answers (QueryFailed, e.g. NOT_FOUND, is an answer)."""
    last: Exception | None = None
    for url in node_urls:
        rpc = ChainRPC(url, timeout=timeout)
        try:
            return rpc.query(path)
        except QueryFailed:
            raise
        except ChainError as err:
            last = err
        finally:
            rpc.close()
    raise ChainError(f"no node answered {path}: {last}")


@contextmanager
def running_on(stack: Any, chain_id: str, job_rate: float, transfer_rate: float, settle_s: float,
               num_predict: int = 8) -> Iterator[LoadGenerator]:
    """Load on a marketplace stack (its nodes, coordinator, `client1` and transfer keys), started;
    on exit it stops sending and waits up to `settle_s` for what was sent to settle."""
    generator = LoadGenerator(chain_id, stack.node_urls, stack.coordinator_url, stack.client_api_key,
                              stack.keys["client1"], [stack.keys[n] for n in stack.transfer_names],
                              job_rate=job_rate, transfer_rate=transfer_rate, num_predict=num_predict)
    generator.start()
    try:
        yield generator
    finally:
        generator.stop_sending()
        generator.settle(settle_s)
