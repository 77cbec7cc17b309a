"""Counts the orchestrator as a party too: Barrier(len(workers) + 1) waits for one that never comes.

caught by: test_every_worker_reports_every_phase_in_order
says: 4 parties for 3 workers
"""

import asyncio
from typing import Protocol


class Worker(Protocol):
    async def run_phase(self, phase: int) -> str: ...


async def simulate(workers: list[Worker], phases: int) -> list[list[str]]:
    barrier = asyncio.Barrier(len(workers) + 1)

    async def run(worker: Worker) -> list[str]:
        reports = []
        for phase in range(1, phases + 1):
            reports.append(await worker.run_phase(phase))
            await barrier.wait()
        return reports

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(run(worker)) for worker in workers]
    return [task.result() for task in tasks]
