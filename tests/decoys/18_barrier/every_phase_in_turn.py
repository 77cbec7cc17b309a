"""Calls every worker of every phase in turn, in one task: right order, but nothing runs at once.

caught by: test_each_worker_runs_all_its_phases_in_one_task_of_its_own
says: one after another
"""

from typing import Protocol


class Worker(Protocol):
    async def run_phase(self, phase: int) -> str: ...


async def simulate(workers: list[Worker], phases: int) -> list[list[str]]:
    reports: list[list[str]] = [[] for _ in workers]
    for phase in range(1, phases + 1):
        for mine, worker in zip(reports, workers, strict=True):
            mine.append(await worker.run_phase(phase))
    return reports
