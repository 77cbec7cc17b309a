"""Re-raises the CancelledError only if task.cancelled() is False, thinking that tells whose it is.

caught by: test_stop_lets_a_cancellation_of_its_own_caller_through
says: says how the worker ended, not who was cancelled
"""

import asyncio


async def worker(pool, jobs):
    conn = await pool.acquire()
    try:
        for job in jobs:
            await conn.execute(job)
    finally:
        await pool.release(conn)


async def stop(task):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():  # the task was cancelled: that CancelledError is the task's
            raise
