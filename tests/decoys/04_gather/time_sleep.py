"""Waits with time.sleep instead of await asyncio.sleep, which freezes the whole event loop.

caught by: test_a_task_waits_its_delay_then_returns_its_result
says: time.sleep()
"""

import asyncio
import time


async def task(name: str, delay: float) -> str:
    time.sleep(delay)
    return f"Result from {name}"


async def run_all(jobs: list[tuple[str, float]]) -> list[str]:
    return await asyncio.gather(*(task(name, delay) for name, delay in jobs))
