"""Keeps the plain gather of stage 1: when one task fails, run_all raises and the others are lost.

caught by: test_a_failed_task_leaves_its_error_in_its_place
says: one failing task made the whole of run_all fail
"""

import asyncio


async def task(name: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    return await asyncio.gather(*(task(name, delay) for name, delay in jobs))
