"""Gathers the workers: when one fails, gather raises and leaves the others waiting at the barrier.

caught by: test_a_failing_worker_stops_the_others_and_leaves_none_waiting_at_the_barrier
says: asyncio.gather raised A's error
"""

import asyncio
from typing import Protocol


class Worker(Protocol):
    async def run_phase(self, phase: int) -> str: ...


async def simulate(workers: list[Worker], phases: int) -> list[list[str]]:
    barrier = asyncio.Barrier(len(workers))

    async def run(worker: Worker) -> list[str]:
        reports = []
        for phase in range(1, phases + 1):
            reports.append(await worker.run_phase(phase))
            await barrier.wait()
        return reports

    return list(await asyncio.gather(*(run(worker) for worker in workers)))
