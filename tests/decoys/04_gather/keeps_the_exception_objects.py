"""Gathers with return_exceptions=True but returns the exception object, not the error text.

caught by: test_a_failed_task_leaves_its_error_in_its_place
says: the exception object itself, not its text
"""

import asyncio


async def task(name: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    return await asyncio.gather(
        *(task(name, delay) for name, delay in jobs), return_exceptions=True
    )
