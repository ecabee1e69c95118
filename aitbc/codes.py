"""Result codes of AITBC transactions. Stable: never renumber or reuse one."""

from enum import IntEnum

CODESPACE = "aitbc"


class Code(IntEnum):
    OK = 0
    TX_DECODE = 1
    TX_TOO_LARGE = 2
    BAD_SIGNATURE = 3
    WRONG_CHAIN_ID = 4
    NONCE_TOO_LOW = 5
    NONCE_TOO_HIGH = 6
    UNKNOWN_ACCOUNT = 7
    INSUFFICIENT_FUNDS = 8
    INVALID_FIELD = 9
    UNAUTHORIZED = 10
    JOB_NOT_FOUND = 11
    JOB_EXISTS = 12
    BAD_JOB_STATUS = 13
    MINER_NOT_FOUND = 14
    MINER_EXISTS = 15
    STAKE_TOO_LOW = 16
    NOT_ASSIGNED_MINER = 17
    BAD_PROOF_SIGNATURE = 18
    MODEL_NOT_SERVED = 19
    MINER_BUSY = 20
    MINER_AT_CAPACITY = 21
    # query answers
    NOT_FOUND = 22
    UNKNOWN_QUERY = 23
    PROOF_MISMATCH = 24
    FEE_TOO_LOW = 25
    MINER_JAILED = 26
    PRICE_ABOVE_CAP = 27
    UNKNOWN_COORDINATOR = 28
    COORDINATOR_EXISTS = 29
    COORDINATOR_BUSY = 30
    COORDINATOR_LEAVING = 31
    RESULT_MATCHES = 32


def code_name(code: int) -> str:
    """'INSUFFICIENT_FUNDS' for 8; 'code 99' for a number we do not know."""
    try:
        return Code(code).name
    except ValueError:
        return f"code {code}"
