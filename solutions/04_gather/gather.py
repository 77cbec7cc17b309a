"""Kata 04: gather - many tasks in the time of the longest."""

import asyncio


async def task(name: str, delay: float) -> str:
    """Wait `delay` seconds without blocking the loop, then return "Result from <name>"."""
    await asyncio.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    """Run task(name, delay) for every job at the same time; return the results in job order.

    Stage 2: a task that raises leaves "Error from <name>: <error>" in its place.

    >>> asyncio.run(run_all([("A", 0.1), ("B", 0.2)]))
    ['Result from A', 'Result from B']
    """

    # A failure becomes that job's result, so it stops neither gather nor the other jobs.
    async def result_or_error(name: str, delay: float) -> str:
        try:
            return await task(name, delay)
        except Exception as error:
            return f"Error from {name}: {error}"

    # gather starts every coroutine at once and keeps the results in argument order.
    return await asyncio.gather(*(result_or_error(name, delay) for name, delay in jobs))
