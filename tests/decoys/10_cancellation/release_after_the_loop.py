"""Releases the connection after the loop, so a cancel mid-job jumps past the release.

caught by: test_a_cancelled_worker_gives_its_connection_back
says: never gave its connection back
"""

import asyncio


async def worker(pool, jobs):
    conn = await pool.acquire()
    for job in jobs:
        await conn.execute(job)
    await pool.release(conn)


async def stop(task):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
