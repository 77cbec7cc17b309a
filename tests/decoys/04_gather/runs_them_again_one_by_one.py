"""When the gather fails, runs every job again one by one to find the failing one: each runs twice.

caught by: test_each_job_runs_once_even_when_one_fails
says: it ran jobs again after the failure
"""

import asyncio


async def task(name: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    try:
        return await asyncio.gather(*(task(name, delay) for name, delay in jobs))
    except Exception:
        results = []
        for name, delay in jobs:
            try:
                results.append(await task(name, delay))
            except Exception as error:
                results.append(f"Error from {name}: {error}")
        return results
