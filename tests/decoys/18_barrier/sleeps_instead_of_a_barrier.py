"""Sleeps a fixed 0.2 s between phases, long enough for the others, instead of waiting for them.

caught by: test_the_next_phase_starts_the_moment_the_last_worker_has_finished
says: not woken by the last worker's arrival
"""

import asyncio
from typing import Protocol


class Worker(Protocol):
    async def run_phase(self, phase: int) -> str: ...


async def simulate(workers: list[Worker], phases: int) -> list[list[str]]:
    async def run(worker: Worker) -> list[str]:
        reports = []
        for phase in range(1, phases + 1):
            reports.append(await worker.run_phase(phase))
            if phase < phases:
                await asyncio.sleep(0.2)  # no phase takes more than 0.2 s: all done by then
        return reports

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(run(worker)) for worker in workers]
    return [task.result() for task in tasks]
