"""Collects results with as_completed, so they come back fastest first, not in job order.

caught by: test_results_come_back_in_the_order_of_the_jobs
says: the order of the jobs
"""

import asyncio


async def task(name: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    return [await done for done in asyncio.as_completed([task(n, d) for n, d in jobs])]
