"""Suppresses every CancelledError around await task, the caller's own cancellation included.

caught by: test_stop_lets_a_cancellation_of_its_own_caller_through
says: without asking whose it was
"""

import asyncio
import contextlib


async def worker(pool, jobs):
    conn = await pool.acquire()
    try:
        for job in jobs:
            await conn.execute(job)
    finally:
        await pool.release(conn)


async def stop(task):
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
