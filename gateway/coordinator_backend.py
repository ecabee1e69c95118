"""Jobs through the coordinator: the gateway signs each job's escrow with its own key
(the coordinator only broadcasts the tx), waits by long polls, follows by its event stream."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from aitbc import jobspec
from aitbc.api.coordinator_client import ApiError, CoordinatorClient, CoordinatorUnavailable, sign_job
from aitbc.api.coordinator_models import ChainPublic, JobPublic
from aitbc.crypto import PrivateKey
from aitbc.gateway import errors
from aitbc.gateway.backend import Finished, FinishedJob, JobEvent, ModelOffer, Proven, Replaced, Tokens
from aitbc.gateway.chain import ChainView
from aitbc.gateway.core import Gateway
from aitbc.gateway.mapping import JobSpec


class CoordinatorBackend:
    def __init__(self, client: CoordinatorClient, key: PrivateKey, chain: ChainView, max_reward: int,
                 max_price_per_second: int = 0):
        self.client, self.key, self.chain = client, key, chain
        self.max_reward, self.max_price_per_second = max_reward, max_price_per_second
        self._served: ChainPublic | None = None  # the coordinator's chain id and what jobs must name
        # One submit at a time: each takes the next nonce of the same key.
        self._submit_lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def offers(self) -> list[ModelOffer]:
        with coordinator_errors():
            miners = [m for m in self.client.miners() if m.stake > 0]
        prices = self.chain.miner_prices()
        by_model: dict[str, list] = {}
        for miner in miners:
            for model in miner.models:
                by_model.setdefault(model, []).append(miner)
        return [ModelOffer(model=model, miners=len(offering), online=sum(m.online for m in offering),
                           price_per_second=min(prices.get(m.address, 0) for m in offering))
                for model, offering in sorted(by_model.items())]

    def submit(self, spec: JobSpec) -> str:
        with coordinator_errors(), self._submit_lock:
            if self._served is None:
                self._served = self.client.chain()
            nonce = self.client.account(self.key.address).nonce
            request = sign_job(self.key, self._served.chain_id, nonce, spec.prompt, spec.model, self.max_reward,
                               spec.options, job_type=spec.job_type,
                               max_price_per_second=self.max_price_per_second,
                               coordinator=self._served.job_coordinator)
            return self.client.submit_job(request).job_id

    def wait(self, job_id: str, timeout: float) -> FinishedJob:
        with coordinator_errors(job_id):
            for job in self.client.job_updates(job_id, timeout):
                if job.status in jobspec.FINAL:
                    return finished(job)
        raise errors.TimedOut(f"job {job_id} is still {job.status} after {timeout:g} s", job_id=job_id)

    def follow(self, job_id: str) -> Iterator[JobEvent]:
        with coordinator_errors(job_id):
            for event in self.client.stream_job(job_id):
                if event.kind == "token":
                    yield Tokens(event.token().text)
                elif event.kind == "replace":
                    yield Replaced(event.replacement().text)
                elif event.kind == "result":
                    result = event.result()
                    yield Proven(result.result_hash, result.tokens_generated, result.prompt_tokens)
                elif event.kind == "done":
                    yield Finished(finished(event.job()))
                    return


def finished(job: JobPublic) -> FinishedJob:
    return FinishedJob(job_id=job.job_id, status=str(job.status), result=job.result, receipt_id=job.receipt_id,
                       error=job.error, fee=job.fee)


# The coordinator's problem statuses -> the gateway's errors (OpenAI's types and codes).
_BY_STATUS: dict[int, type[errors.GatewayError]] = {
    400: errors.InvalidRequest, 401: errors.AuthenticationFailed, 402: errors.InsufficientFunds,
    403: errors.PermissionDenied, 404: errors.UpstreamError, 409: errors.Conflict, 413: errors.InvalidRequest,
    422: errors.InvalidRequest, 429: errors.RateLimited, 503: errors.Unavailable,
}


@contextlib.contextmanager
def coordinator_errors(job_id: str | None = None) -> Iterator[None]:
    """CoordinatorClient's errors as GatewayErrors."""
    try:
        yield
    except CoordinatorUnavailable as err:
        raise errors.Unavailable(f"{err} (is the coordinator running? set --url or AITBC_URL)",
                                 code="coordinator_unavailable", job_id=job_id) from None
    except ApiError as err:
        kind = _BY_STATUS.get(err.status, errors.UpstreamError)
        raise kind(f"coordinator: {err.title}: {err.detail}", job_id=job_id) from None


def gateway_via_coordinator(url: str, api_key: str | None, node: str, key: PrivateKey, max_reward: int,
                            max_price_per_second: int = 0, timeout: float = 300.0) -> Gateway:
    """A Gateway whose jobs go through the coordinator at `url`, paid by `key`, checked on `node`."""
    chain = ChainView(node)
    backend = CoordinatorBackend(CoordinatorClient(url, api_key), key, chain, max_reward, max_price_per_second)
    return Gateway(backend, chain, timeout=timeout)
