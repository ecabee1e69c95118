"""The gateway's errors, each with the HTTP status, OpenAI error type and code it answers with.

The gateway's logic raises these (the HTTP layer and `aitbc chat` both catch
them); `body()` is OpenAI's error shape, which the `openai` package turns into
its typed exceptions (400 BadRequestError, 401 AuthenticationError, 404
NotFoundError, ...).
"""

from __future__ import annotations

from aitbc.gateway.openai_models import ErrorBody, ErrorDetail


class GatewayError(Exception):
    """Base: a message for people plus the fields of OpenAI's error object."""

    status = 500
    type = "api_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 job_id: str | None = None):
        super().__init__(message)
        self.message, self.param = message, param
        self.code = code or self.code
        self.job_id = job_id

    def body(self) -> ErrorBody:
        return ErrorBody(error=ErrorDetail(message=self.message, type=self.type, param=self.param, code=self.code))


class InvalidRequest(GatewayError):
    status, type = 400, "invalid_request_error"


class ModelNotFound(GatewayError):
    status, type, code = 404, "invalid_request_error", "model_not_found"


class AuthenticationFailed(GatewayError):
    status, type, code = 401, "authentication_error", "invalid_api_key"


class PermissionDenied(GatewayError):
    status, type, code = 403, "permission_error", "permission_denied"


class InsufficientFunds(GatewayError):
    """The key's balance cannot lock the escrow (the chain refused the submit tx)."""

    status, type, code = 402, "insufficient_quota", "insufficient_quota"


class Conflict(GatewayError):
    status, type, code = 409, "invalid_request_error", "conflict"


class RateLimited(GatewayError):
    status, type, code = 429, "rate_limit_error", "rate_limit_exceeded"


class UpstreamError(GatewayError):
    """The coordinator or the job went wrong: failed, expired, or a result that does not match its receipt."""

    status, type, code = 502, "api_error", "upstream_error"


class Unavailable(GatewayError):
    """The coordinator or the chain node does not answer."""

    status, type, code = 503, "api_error", "service_unavailable"


class TimedOut(GatewayError):
    status, type, code = 504, "api_error", "timeout"
