"""Builds a barrier from a counter and an Event the last arrival sets: it never closes again.

caught by: test_no_worker_starts_a_phase_before_every_worker_has_finished_the_previous_one
says: does not reset
"""

import asyncio
from typing import Protocol


class Worker(Protocol):
    async def run_phase(self, phase: int) -> str: ...


async def simulate(workers: list[Worker], phases: int) -> list[list[str]]:
    arrived = 0
    everyone_done = asyncio.Event()

    async def run(worker: Worker) -> list[str]:
        nonlocal arrived
        reports = []
        for phase in range(1, phases + 1):
            reports.append(await worker.run_phase(phase))
            arrived += 1
            if arrived == len(workers):
                everyone_done.set()
            await everyone_done.wait()
        return reports

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(run(worker)) for worker in workers]
    return [task.result() for task in tasks]
