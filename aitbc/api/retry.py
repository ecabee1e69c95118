"""The one retry policy of the services' clients (tenacity).

A first try and RETRIES more, waiting `backoff_s`, then twice, then four times
as long in between: the flowchart's "retries with exponential backoff, maximum
3 retries before giving up". Each caller says what is worth another try (a
transport error, a busy answer) and its base delay; the count and the shape
are the same everywhere.

    accepted = await async_retrying(on=MinerUnavailable, backoff_s=0.5)(client.assign, endpoint, job)

When the tries run out, the last exception is raised as it was, or, for a
result-based policy (`on_result`), the last result is returned for the caller
to judge.
"""

from __future__ import annotations

from typing import Any, Callable

from tenacity import (
    AsyncRetrying, RetryCallState, Retrying, retry_any, retry_if_exception, retry_if_exception_type, retry_if_result,
    stop_after_attempt, wait_exponential,
)

RETRIES = 3
ATTEMPTS = 1 + RETRIES

ExceptionFilter = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]


def _last_outcome(state: RetryCallState) -> Any:
    """Out of tries: the last result, or the last exception raised again."""
    return state.outcome.result()


def _policy(on: ExceptionFilter | None, on_result: Callable[[Any], bool] | None, backoff_s: float) -> dict:
    conditions = []
    if on is not None:
        is_filter = isinstance(on, tuple) or isinstance(on, type)
        conditions.append(retry_if_exception_type(on) if is_filter else retry_if_exception(on))
    if on_result is not None:
        conditions.append(retry_if_result(on_result))
    if not conditions:
        raise ValueError("a retry policy needs `on` (exceptions) or `on_result`")
    return dict(stop=stop_after_attempt(ATTEMPTS), wait=wait_exponential(multiplier=backoff_s, min=0),
                retry=retry_any(*conditions), retry_error_callback=_last_outcome)


def retrying(*, on: ExceptionFilter | None = None, on_result: Callable[[Any], bool] | None = None,
             backoff_s: float = 0.5) -> Retrying:
    """The policy for blocking calls: `retrying(on=...)(fn, *args)` calls fn until it succeeds or
    ATTEMPTS are spent. `on` is an exception type, a tuple of them, or a predicate on the exception;
    `on_result` a predicate on the returned value that asks for another try."""
    return Retrying(**_policy(on, on_result, backoff_s))


def async_retrying(*, on: ExceptionFilter | None = None, on_result: Callable[[Any], bool] | None = None,
                   backoff_s: float = 0.5) -> AsyncRetrying:
    """`retrying` for coroutines: `await async_retrying(on=...)(coro_fn, *args)`. `coro_fn` must be an
    `async def` (tenacity calls anything else, such as a lambda returning a coroutine, without awaiting)."""
    return AsyncRetrying(**_policy(on, on_result, backoff_s))
