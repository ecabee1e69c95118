"""GPU utilisation during an inference, from nvidia-smi when a GPU is visible."""

from __future__ import annotations

import asyncio
import contextlib
import shutil

QUERY = ["--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]


async def read_utilization() -> float | None:
    """Mean utilisation (0..1) over visible GPUs now, or None without nvidia-smi or GPU."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    try:
        proc = await asyncio.create_subprocess_exec(binary, *QUERY, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=2)
    except (OSError, asyncio.TimeoutError):
        return None
    values = [float(v) for v in out.decode().split() if v.replace(".", "", 1).isdigit()]
    if proc.returncode != 0 or not values:
        return None
    return sum(values) / len(values) / 100


class GpuSampler:
    """Samples while a job runs: a single reading at the end would usually see an idle GPU."""

    def __init__(self, interval_s: float = 0.5):
        self.interval_s = interval_s
        self.samples: list[float] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            if not self.samples:  # very short job: take one reading
                value = await read_utilization()
                if value is not None:
                    self.samples.append(value)

    async def _loop(self) -> None:
        while True:
            value = await read_utilization()
            if value is None:
                return
            self.samples.append(value)
            await asyncio.sleep(self.interval_s)

    @property
    def utilization(self) -> float | None:
        return round(sum(self.samples) / len(self.samples), 4) if self.samples else None
