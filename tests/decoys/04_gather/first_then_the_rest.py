"""Awaits the first task alone, then gathers the rest: the first delay is added to the total.

caught by: test_every_task_starts_before_any_finishes
says: started only after another call had finished
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
