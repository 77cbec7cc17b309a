"""Awaits the first task alone, then gathers the rest: the first delay is added to the total.

caught by: test_three_tasks_finish_in_about_the_longest_delay
says: some calls waited for others before they started
"""

import asyncio


async def task(name: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    (first_name, first_delay), *rest = jobs
    first = await task(first_name, first_delay)
    others = await asyncio.gather(*(task(name, delay) for name, delay in rest))
    return [first, *others]
