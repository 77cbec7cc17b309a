"""Runs each worker through its phases in a task of its own, but nobody waits for the others.

caught by: test_no_worker_starts_a_phase_before_every_worker_has_finished_the_previous_one
says: did not wait for the others
"""

import asyncio
from typing import Protocol


class Worker(Protocol):
    async def run_phase(self, phase: int) -> str: ...


async def simulate(workers: list[Worker], phases: int) -> list[list[str]]:
    async def run(worker: Worker) -> list[str]:
        return [await worker.run_phase(phase) for phase in range(1, phases + 1)]

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(run(worker)) for worker in workers]
    return [task.result() for task in tasks]
