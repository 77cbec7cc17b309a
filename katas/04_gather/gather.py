"""Kata 04: gather - many tasks in the time of the longest."""

import asyncio


async def task(name: str, delay: float) -> str:
    """Wait `delay` seconds without blocking the loop, then return "Result from <name>"."""
    raise NotImplementedError("write task(): wait `delay` seconds, then return the result")


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    """Run task(name, delay) for every job at the same time; return the results in job order.

    Stage 2: a task that raises leaves "Error from <name>: <error>" in its place.

    >>> asyncio.run(run_all([("A", 0.1), ("B", 0.2)]))
    ['Result from A', 'Result from B']
    """
    raise NotImplementedError("write run_all(): run every task concurrently")
