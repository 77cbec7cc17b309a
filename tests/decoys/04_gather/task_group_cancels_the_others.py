"""Runs the tasks in a TaskGroup: one failure cancels the others and raises an ExceptionGroup.

caught by: test_a_failed_task_leaves_its_error_in_its_place
says: a TaskGroup stops everything when one of its tasks fails
"""

import asyncio


async def task(name: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(task(name, delay)) for name, delay in jobs]
    return [t.result() for t in tasks]
