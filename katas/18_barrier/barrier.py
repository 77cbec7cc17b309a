"""Kata 18: Barrier - nobody starts phase 2 early."""

import asyncio
from typing import Protocol


class Worker(Protocol):
    """One worker of the simulation: it computes its district, one phase at a time."""

    async def run_phase(self, phase: int) -> str:
        """Compute this worker's district for `phase` (1, 2, 3, ...); return its report."""
        ...


async def simulate(workers: list[Worker], phases: int) -> list[list[str]]:
    """Run every worker through phases 1 to `phases` in lockstep; return everyone's reports.

    Each worker is ONE task that runs all of its phases in turn (it keeps its district in
    memory between phases). No worker starts phase k + 1 before every worker has finished
    phase k; within a phase, the workers run at the same time. Returns each worker's reports
    in phase order, the workers in the order given.

    >>> asyncio.run(simulate([a, b, c], phases=3))   # the slowest of each phase: 0.2 s
    [['A phase 1', 'A phase 2', 'A phase 3'], ['B phase 1', ...], ['C phase 1', ...]]
    """
    raise NotImplementedError(
        "write simulate(): one task per worker, and make them wait for each other between phases"
    )
