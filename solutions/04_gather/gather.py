"""Kata 04: gather - many tasks in the time of the longest."""

import asyncio


async def task(name: str, delay: float) -> str:
    """Wait `delay` seconds without blocking the loop, then return "Result from <name>"."""
    await asyncio.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    """Run task(name, delay) for every job at the same time; return the results in job order.

    >>> asyncio.run(run_all([("A", 0.1), ("B", 0.2)]))
    ['Result from A', 'Result from B']
    """
    # gather starts every coroutine at once and keeps the results in argument order.
    return await asyncio.gather(*(task(name, delay) for name, delay in jobs))
