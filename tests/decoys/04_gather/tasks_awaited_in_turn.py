"""Creates a task per job, then awaits each in turn: if run_all is cancelled, the tasks run on.

caught by: test_a_cancelled_run_all_leaves_no_task_running
says: it had started were still running
"""

import asyncio


async def task(name: str, delay: float) -> str:
    await asyncio.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    tasks = [asyncio.create_task(task(name, delay)) for name, delay in jobs]
    return [await each for each in tasks]
