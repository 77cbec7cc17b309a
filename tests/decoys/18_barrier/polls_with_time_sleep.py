"""Waits for the others in a loop with time.sleep, which freezes the event loop, so they never come.

caught by: test_every_worker_reports_every_phase_in_order
says: time.sleep()
"""

import asyncio
import time
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
                time.sleep(0.01)
        return reports

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(run(worker)) for worker in workers]
    return [task.result() for task in tasks]
