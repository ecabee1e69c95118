"""Pushes in flight: one task per key, started again only once the last one ended."""

import asyncio

from aitbc.coordinator.push_tasks import PushTasks


def test_a_push_in_flight_is_not_started_twice():
    async def go():
        pushes, runs, release = PushTasks(), [], asyncio.Event()

        async def push():
            runs.append(1)
            await release.wait()

        assert pushes.start("job_1", push) and not pushes.start("job_1", push)
        await asyncio.sleep(0)
        assert "job_1" in pushes and runs == [1]
        release.set()
        await asyncio.sleep(0.01)
        assert "job_1" not in pushes and pushes.start("job_1", push)
        release.set()
        await asyncio.sleep(0.01)

    asyncio.run(go())
