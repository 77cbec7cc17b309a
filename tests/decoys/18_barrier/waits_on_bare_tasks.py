"""Starts the workers with bare create_task and asyncio.wait()s for them: a cancel leaves them on.

caught by: test_a_cancelled_simulation_leaves_no_worker_running
says: it had started were still running
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

    tasks = [asyncio.create_task(run(worker)) for worker in workers]
    await asyncio.wait(tasks)
    return [task.result() for task in tasks]
