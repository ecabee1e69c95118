"""Property-based sequences of valid and invalid txs through the pure transition.

Fees, slashing, unbonding (with a short period), expiries, jail and
chain-drawn checks all mixed. After every block: supply conserved (balances +
escrow + bonded and unbonding stake + burned stake + burned fees = genesis
supply), no negative balance, escrow exactly while its job is open, a job pays
at most once, nonces only grow.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st

from aitbc.abci_app import invariants, records, state as chainstate
from aitbc.abci_app.records import Job
from dataclasses import replace

from aitbc.ops.factories import KEYS, NAMES, PARAMS, Chain, Signer, receipt_fields, register_fields, submit_fields

# Half the receipts checked, short windows, the default fee rule, short unbonding and
# jail: every path that moves money or stake gets exercised.
CHECKED = replace(PARAMS, check_share_bps=5_000, check_window_blocks=3, min_fee=100, fee_per_byte=1,
                  unbonding_period_s=60, jail_strikes=2, jail_duration_s=30)

USERS = list(NAMES)
MINERS = ["miner1", "miner2", "bob"]

action = st.one_of(
    st.tuples(st.just("transfer"), st.sampled_from(USERS), st.sampled_from(USERS),
              st.integers(0, 2_000_000_000)),
    st.tuples(st.just("register"), st.sampled_from(MINERS), st.integers(50_000_000, 300_000_000), st.integers(0, 3)),
    st.tuples(st.just("submit"), st.sampled_from(USERS), st.integers(0, 5_000_000), st.sampled_from(["aitbc-tiny", "other"])),
    st.tuples(st.just("cancel"), st.sampled_from(USERS), st.integers(0, 3)),
    st.tuples(st.just("assign"), st.sampled_from(["coordinator", "alice"]), st.integers(0, 3), st.sampled_from(MINERS)),
    st.tuples(st.just("receipt"), st.sampled_from(["assigned"] * 3 + MINERS), st.integers(0, 3),
              st.integers(0, 600_000)),
    st.tuples(st.just("lifecycle"), st.sampled_from(["miner1", "miner2"]), st.integers(0, 600_000),
              st.sampled_from(["an answer", "an answer", "forged"])),
    st.tuples(st.just("check"), st.integers(0, 3), st.sampled_from(MINERS), st.booleans()),
    st.tuples(st.just("fail"), st.sampled_from(["coordinator"] + MINERS), st.integers(0, 3)),
    st.tuples(st.just("unbond"), st.sampled_from(MINERS)),
    st.tuples(st.just("bad_nonce"), st.sampled_from(USERS), st.sampled_from([-3, -1, 1, 2])),
    st.tuples(st.just("garbage"), st.binary(max_size=64)),
)


def make_tx(chain: Chain, signer: Signer, jobs: list[str], act) -> bytes:
    kind = act[0]
    # Mostly recent jobs, so that lifecycles get far enough to pay out.
    pick = (lambda i: jobs[-1 - i % len(jobs)] if jobs else "job_none")
    if kind == "transfer":
        return signer.tx(act[1], "transfer", to=KEYS[act[2]].address, amount=act[3])
    if kind == "register":
        return signer.tx(act[1], "register_miner", **{**register_fields(stake=act[2]), "capacity": act[3]})
    if kind == "submit":
        jobs.append(signer.next_job_id(act[1]))
        return signer.tx(act[1], "submit_job", **submit_fields(max_reward=act[2], model=act[3]))
    if kind == "cancel":
        return signer.tx(act[1], "cancel_job", job_id=pick(act[2]))
    if kind == "assign":
        return signer.tx(act[1], "assign_job", job_id=pick(act[2]), miner=KEYS[act[3]].address)
    if kind == "receipt":
        miner = act[1]
        if miner == "assigned":  # usually the honest case: the miner the job is assigned to
            job = chainstate.get_job(chain._block, pick(act[2]))
            miner = next((n for n in MINERS if job and KEYS[n].address == job.miner), "miner1")
        return signer.tx("coordinator", "record_receipt", **receipt_fields(pick(act[2]), miner=miner,
                                                                             compute_time_ms=act[3]))
    if kind == "lifecycle":  # assign the newest job and record its receipt, as the coordinator does
        job_id = pick(0)
        # Built one after the other, so the second gets the right nonce if the first fails.
        other = "miner2" if act[1] == "miner1" else "miner1"
        # If the receipt is picked for a check, the other miner re-runs it honestly.
        return [lambda: signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS[act[1]].address),
                lambda: signer.tx("coordinator", "record_receipt",
                                  **receipt_fields(job_id, miner=act[1], compute_time_ms=act[2], result=act[3])),
                lambda: signer.tx("coordinator", "record_check",
                                  **receipt_fields(job_id, miner=drawn(chain, job_id, other),
                                                   compute_time_ms=act[2] // 2))]
    if kind == "check":  # a re-run by the drawn checker (or an intruder), honest or not
        job_id = pick(act[1])
        result = "an answer" if act[3] else "something else"
        return [lambda: signer.tx("coordinator", "assign_check", job_id=job_id, checker=KEYS[act[2]].address),
                lambda: signer.tx(act[2], "record_check",
                                  **receipt_fields(job_id, miner=drawn(chain, job_id, act[2]), result=result))]
    if kind == "fail":
        return signer.tx(act[1], "fail_job", job_id=pick(act[2]))
    if kind == "unbond":
        return signer.tx(act[1], "unbond")
    if kind == "bad_nonce":
        return signer.tx_with_nonce_offset(act[1], act[2], "transfer", to=KEYS["bob"].address, amount=1)
    return act[1]


def drawn(chain: Chain, job_id: str, fallback: str) -> str:
    """The name of the checker the chain drew for `job_id`, else `fallback`."""
    job = chainstate.get_job(chain._block, job_id)
    return next((n for n in MINERS + ["alice"] if job and job.checker == KEYS[n].address), fallback)


def nonces(chain: Chain) -> dict[str, int]:
    return {name: chain.account(name).nonce for name in NAMES}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.lists(st.tuples(st.lists(action, max_size=8), st.sampled_from([1, 1, 5, 30, 61, 700])),
                       min_size=1, max_size=12))
def test_invariants_hold_after_every_block(blocks):
    chain, signer, jobs = Chain(CHECKED), Signer(fee=None), []
    # Two miners from the start, so that lifecycles get as far as receipts.
    assert chain.block([signer.tx(m, "register_miner", **register_fields()) for m in ("miner1", "miner2")]) == [0, 0]
    paid: dict[str, int] = {}
    before = nonces(chain)
    for actions, seconds in blocks:
        chain.begin(seconds)
        for act in actions:
            made = make_tx(chain, signer, jobs, act)
            for build in made if isinstance(made, list) else [lambda: made]:
                raw = build()
                outcome = chain.apply(raw)
                if outcome != 0:
                    if act[0] == "submit":
                        jobs.pop()
                    if act[0] != "bad_nonce":
                        signer.forget(raw, outcome)
        chain.end()
        view = chain.view()
        assert invariants.broken(view) == []
        after = nonces(chain)
        assert all(after[n] >= before[n] for n in NAMES), "a nonce went down"
        before = after
        for key, value in view.store.iterate(b"job/", b"job0"):
            job = records.decode(Job, value)
            if job.status in ("completed", "failed") and job.receipt_id:
                assert paid.setdefault(job.id, job.payment) == job.payment, "a job was paid twice"
                assert chainstate.get_receipt(view, job.receipt_id).amount_paid == job.payment
            if job.check_status == "passed":
                assert job.payment == job.held_payment, "a miner vindicated by a check went unpaid"
