"""Gathers the workers phase by phase, so every phase runs in new tasks, not one task per worker.

caught by: test_each_worker_runs_all_its_phases_in_one_task_of_its_own
says: a new task for every phase
"""

import asyncio
from typing import Protocol


class Worker(Protocol):
    async def run_phase(self, phase: int) -> str: ...


async def simulate(workers: list[Worker], phases: int) -> list[list[str]]:
    reports: list[list[str]] = [[] for _ in workers]
    for phase in range(1, phases + 1):
        done = await asyncio.gather(*(worker.run_phase(phase) for worker in workers))
        for mine, report in zip(reports, done, strict=True):
            mine.append(report)
    return reports
