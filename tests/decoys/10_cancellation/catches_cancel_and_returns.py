"""Catches CancelledError to clean up, then returns normally instead of re-raising it.

caught by: test_a_cancelled_worker_ends_cancelled_instead_of_carrying_on
says: did not re-raise
"""

import asyncio


async def worker(pool, jobs):
    conn = await pool.acquire()
    try:
        for job in jobs:
            await conn.execute(job)
    except asyncio.CancelledError:
        pass  # stopped: fine, the connection is released below
    await pool.release(conn)


async def stop(task):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
