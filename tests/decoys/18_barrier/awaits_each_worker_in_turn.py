"""Awaits each worker's run in turn: the first waits at the barrier for workers that never started.

caught by: test_every_worker_reports_every_phase_in_order
says: one after another
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

    return [await run(worker) for worker in workers]
