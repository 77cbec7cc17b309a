"""Awaits each task in turn in a for loop, so the delays add up.

caught by: test_three_tasks_finish_in_about_the_longest_delay
says: the calls ran one after another
"""

import asyncio


async def task(name: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    results = []
    for name, delay in jobs:
        results.append(await task(name, delay))
    return results
