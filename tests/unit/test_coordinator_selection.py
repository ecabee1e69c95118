"""Miner selection: eligibility, score, deterministic tie-break."""

from fractions import Fraction

from aitbc.coordinator.selection import Candidate, choose, rank, reputation, score


def miner(address: str, stake: int = 100, capacity: int = 2, chain_active: int = 0, local_active: int = 0,
          completed: int = 0, failed: int = 0, online: bool = True, models=("m",)) -> Candidate:
    return Candidate(address=address, stake=stake, models=tuple(models), capacity=capacity,
                     chain_active_jobs=chain_active, local_active_jobs=local_active, completed=completed,
                     failed=failed, online=online, endpoint=f"http://{address}")


def test_reputation_is_laplace_smoothed():
    assert reputation(0, 0) == Fraction(1, 2)
    assert reputation(8, 0) == Fraction(9, 10)
    assert reputation(0, 8) == Fraction(1, 10)


def test_only_online_miners_with_the_model_and_free_capacity():
    pool = [miner("a", online=False), miner("b", models=("other",)), miner("c", chain_active=2),
            miner("d", local_active=2), miner("e", stake=0), miner("f")]
    assert [c.address for c in rank(pool, "m")] == ["f"]


def test_a_miner_slashed_below_the_minimum_stake_is_not_chosen():
    # The chain refuses its assign_job (STAKE_TOO_LOW); asking anyway costs a tx per queued job.
    pool = [Candidate(**{**miner("a", stake=99).__dict__, "min_stake": 100}),
            Candidate(**{**miner("b", stake=100).__dict__, "min_stake": 100})]
    assert [c.address for c in rank(pool, "m")] == ["b"]


def test_busy_counts_the_larger_of_chain_and_local():
    c = miner("a", capacity=3, chain_active=1, local_active=2)
    assert c.free == 1
    assert score(c, 100) == Fraction(1) * Fraction(1, 2) * Fraction(1, 3)


def test_stake_reputation_and_free_capacity_all_count():
    rich = miner("rich", stake=400)
    reliable = miner("reliable", stake=300, completed=98, failed=0)  # 3/4 x 99/100 > 1 x 1/2
    idle = miner("idle", stake=400, capacity=4, local_active=3)
    assert [c.address for c in rank([idle, reliable, rich], "m")] == ["reliable", "rich", "idle"]


def test_ties_go_to_the_lowest_address_whatever_the_order():
    pool = [miner("b"), miner("c"), miner("a")]
    assert choose(pool, "m").address == "a"
    assert choose(list(reversed(pool)), "m").address == "a"
    assert choose(pool, "m", exclude={"a"}).address == "b"


def test_no_candidate():
    assert choose([miner("a", online=False)], "m") is None
    assert choose([], "m") is None
