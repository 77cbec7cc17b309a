"""Counts arrivals per phase and checks the count every 5 ms (asyncio.sleep(0.005)): polling.

caught by: test_a_worker_waits_for_the_others_without_polling
says: Polling
"""

import asyncio
from typing import Protocol


class Worker(Protocol):
    async def run_phase(self, phase: int) -> str: ...


async def simulate(workers: list[Worker], phases: int) -> list[list[str]]:
    arrived = [0] * (phases + 1)

    async def run(worker: Worker) -> list[str]:
        reports = []
        for phase in range(1, phases + 1):
            reports.append(await worker.run_phase(phase))
            arrived[phase] += 1
            while arrived[phase] < len(workers):
                await asyncio.sleep(0.005)
        return reports

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(run(worker)) for worker in workers]
    return [task.result() for task in tasks]
