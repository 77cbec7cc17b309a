"""Calls every worker of every phase in turn, in one task: right order, but nothing runs at once.

caught by: test_the_workers_of_a_phase_run_together_so_it_takes_the_slowest_of_each_phase
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
