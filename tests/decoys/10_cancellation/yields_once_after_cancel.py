"""Cancels the task and gives it one turn of the loop, as if cleanup were instant.

caught by: test_stop_returns_only_once_the_worker_has_given_its_connection_back
says: its cleanup had started but not finished
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
    await asyncio.sleep(0)  # let the task see its CancelledError
