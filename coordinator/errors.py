"""Domain errors of the coordinator. One handler (http/problem_handlers.py) turns each
into an RFC 9457 problem answer; business modules raise these and never import FastAPI."""

from __future__ import annotations

from aitbc.codes import Code, code_name


class ServiceError(Exception):
    """Base: an answer with an HTTP status, a short title and a detail for people."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    @property
    def type(self) -> str:
        return "about:blank" if type(self) is ServiceError else f"urn:aitbc:problem:{self.slug}"

    @property
    def slug(self) -> str:
        return "-".join(self.title.lower().split())


class InvalidRequest(ServiceError):
    status, title = 400, "Invalid request"


class Unauthenticated(ServiceError):
    status, title = 401, "Unauthenticated"


class Forbidden(ServiceError):
    status, title = 403, "Forbidden"


class NotFound(ServiceError):
    status, title = 404, "Not found"


class Conflict(ServiceError):
    status, title = 409, "Conflict"


class PayloadTooLarge(ServiceError):
    status, title = 413, "Payload too large"


class RateLimited(ServiceError):
    status, title = 429, "Too many requests"

    def __init__(self, retry_after_s: int):
        super().__init__(f"rate limit exceeded; retry in {retry_after_s} s",
                         headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s


class ChainUnavailable(ServiceError):
    status, title = 503, "Chain unavailable"


class MinerUnreachable(ServiceError):
    """`detail` is for the log; `code` is a fixed word that may go on chain."""

    status, title = 502, "Miner unreachable"

    def __init__(self, detail: str, *, code: str = "miner_unreachable"):
        super().__init__(detail)
        self.code = code


# CheckTx codes -> HTTP status; anything else is a plain 400.
_CHAIN_STATUS = {
    Code.INSUFFICIENT_FUNDS: 402,
    Code.UNKNOWN_ACCOUNT: 402,
    Code.NONCE_TOO_LOW: 409,
    Code.NONCE_TOO_HIGH: 409,
    Code.JOB_EXISTS: 409,
    Code.BAD_JOB_STATUS: 409,
    Code.MINER_AT_CAPACITY: 409,
    Code.UNAUTHORIZED: 403,
    Code.NOT_ASSIGNED_MINER: 403,
    Code.JOB_NOT_FOUND: 404,
}


class ChainRejected(ServiceError):
    """The chain refused a tx in CheckTx; `code_name` is the chain's name for why."""

    def __init__(self, code: int, log: str, what: str = "transaction"):
        self.code, self.log, self.code_name = code, log, code_name(code)
        self.status = _CHAIN_STATUS.get(code, 400)
        self.title = f"Rejected by chain: {self.code_name}"
        super().__init__(f"the chain rejected the {what} ({self.code_name}): {log}")

    @property
    def slug(self) -> str:
        return "chain-" + self.code_name.lower().replace("_", "-")


class NotReady(ServiceError):
    status, title = 503, "Not ready"
