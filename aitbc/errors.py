"""Why a transaction is rejected: one shallow tree, each with its stable code.

Each error carries the facts a person needs to act on it; the ABCI adapter
turns it into (code, codespace, log). Storage and invariant failures are not
here on purpose: they crash the node instead of rejecting a tx.
"""

from __future__ import annotations

from aitbc.codes import Code


class TxError(Exception):
    """A transaction that cannot be applied; changes nothing."""

    code: Code = Code.TX_DECODE
    charged: bool = False  # set when the tx failed in a block after its nonce and fee were taken
    events: list = []      # then: the ante step's events (the message event with its fee)

    def __init__(self, message: str):
        super().__init__(message)
        self.log = message


class DecodeError(TxError):
    code = Code.TX_DECODE


class TooLarge(TxError):
    code = Code.TX_TOO_LARGE

    def __init__(self, size: int, limit: int):
        super().__init__(f"transaction is {size} bytes; the limit is {limit}")


class BadSignature(TxError):
    code = Code.BAD_SIGNATURE

    def __init__(self) -> None:
        super().__init__("signature does not match the transaction body and public key")


class WrongChainId(TxError):
    code = Code.WRONG_CHAIN_ID

    def __init__(self, expected: str, got: str):
        super().__init__(f"transaction is for chain {got!r}, this is chain {expected!r}")


class BadNonce(TxError):
    def __init__(self, address: str, expected: int, got: int):
        self.code = Code.NONCE_TOO_LOW if got < expected else Code.NONCE_TOO_HIGH
        what = "already used (replay or stale tx)" if got < expected else "ahead of the account (gap)"
        super().__init__(f"nonce {got} for {address} is {what}; expected {expected}")


class UnknownAccount(TxError):
    code = Code.UNKNOWN_ACCOUNT

    def __init__(self, address: str):
        super().__init__(f"account {address} does not exist (it has never received funds)")


class InsufficientFunds(TxError):
    code = Code.INSUFFICIENT_FUNDS

    def __init__(self, address: str, needed: int, available: int):
        self.needed, self.available = needed, available
        super().__init__(f"{address} has {available} uaitbc, needs {needed} uaitbc")


class InvalidField(TxError):
    code = Code.INVALID_FIELD

    def __init__(self, field: str, reason: str):
        super().__init__(f"invalid {field}: {reason}")


class Unauthorized(TxError):
    code = Code.UNAUTHORIZED

    def __init__(self, signer: str, action: str, allowed: str):
        super().__init__(f"{signer} may not {action}; only {allowed} may")


class JobNotFound(TxError):
    code = Code.JOB_NOT_FOUND

    def __init__(self, job_id: str):
        super().__init__(f"job {job_id} does not exist")


class JobExists(TxError):
    code = Code.JOB_EXISTS

    def __init__(self, job_id: str):
        super().__init__(f"job {job_id} already exists")


class BadJobStatus(TxError):
    code = Code.BAD_JOB_STATUS

    def __init__(self, job_id: str, status: str, action: str):
        super().__init__(f"cannot {action} job {job_id}: it is {status}")


class MinerNotFound(TxError):
    code = Code.MINER_NOT_FOUND

    def __init__(self, address: str):
        super().__init__(f"{address} is not a registered miner")


class MinerExists(TxError):
    code = Code.MINER_EXISTS

    def __init__(self, address: str):
        super().__init__(f"{address} is already a registered miner; use update-miner")


class StakeTooLow(TxError):
    code = Code.STAKE_TOO_LOW

    def __init__(self, minimum: int, stake: int):
        super().__init__(f"stake {stake} uaitbc is below the minimum of {minimum} uaitbc")


class NotAssignedMiner(TxError):
    code = Code.NOT_ASSIGNED_MINER

    def __init__(self, job_id: str, miner: str, assigned: str):
        super().__init__(f"job {job_id} is assigned to {assigned or 'nobody'}, not to {miner}")


class BadProofSignature(TxError):
    code = Code.BAD_PROOF_SIGNATURE

    def __init__(self, miner: str):
        super().__init__(f"compute proof is not signed by the miner {miner}")


class ModelNotServed(TxError):
    code = Code.MODEL_NOT_SERVED

    def __init__(self, miner: str, model: str):
        super().__init__(f"miner {miner} does not serve model {model!r}")


class MinerBusy(TxError):
    code = Code.MINER_BUSY

    def __init__(self, miner: str, open_jobs: int):
        super().__init__(f"miner {miner} still has {open_jobs} open job(s); finish them first")


class MinerAtCapacity(TxError):
    code = Code.MINER_AT_CAPACITY

    def __init__(self, miner: str, capacity: int):
        super().__init__(f"miner {miner} already runs its capacity of {capacity} job(s)")


class ProofMismatch(TxError):
    code = Code.PROOF_MISMATCH

    def __init__(self, job_id: str, field: str, detail: str):
        super().__init__(f"proof for job {job_id} does not match the job's {field}: {detail}")


class FeeTooLow(TxError):
    code = Code.FEE_TOO_LOW

    def __init__(self, offered: int, required: int, size: int):
        self.required = required
        super().__init__(f"fee {offered} uaitbc is below the {required} uaitbc this {size}-byte tx needs "
                         f"(min_fee + fee_per_byte x size; see /params)")


class MinerJailed(TxError):
    code = Code.MINER_JAILED

    def __init__(self, miner: str, until_ns: int):
        super().__init__(f"miner {miner} is jailed until block time {until_ns} ns "
                         "(too many slashes or expired jobs)")


class PriceAboveCap(TxError):
    code = Code.PRICE_ABOVE_CAP

    def __init__(self, miner: str, price: int, cap: int):
        super().__init__(f"miner {miner} asks {price} uaitbc/s, above the job's cap of {cap} uaitbc/s")


class UnknownCoordinator(TxError):
    code = Code.UNKNOWN_COORDINATOR

    def __init__(self, address: str):
        super().__init__(f"{address or 'the genesis coordinator'} is not a coordinator of this chain "
                         "(see `aitbc query coordinators`)")


class CoordinatorExists(TxError):
    code = Code.COORDINATOR_EXISTS

    def __init__(self, address: str):
        super().__init__(f"{address} is already a coordinator")


class CoordinatorBusy(TxError):
    code = Code.COORDINATOR_BUSY

    def __init__(self, address: str, open_jobs: int):
        super().__init__(f"coordinator {address} still has {open_jobs} open job(s); they must close first")


class CoordinatorLeaving(TxError):
    code = Code.COORDINATOR_LEAVING

    def __init__(self, address: str, open_jobs: int):
        super().__init__(f"coordinator {address} is leaving: it takes no new jobs; its bond comes back when its "
                         f"{open_jobs} open job(s) close")


class ResultMatches(TxError):
    code = Code.RESULT_MATCHES

    def __init__(self, job_id: str):
        super().__init__(f"the sealed result of job {job_id} opens with this job key to its receipt's result hash: "
                         "there is nothing to dispute")
