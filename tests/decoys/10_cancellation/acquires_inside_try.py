"""Acquires inside the try, so a cancel during the acquire reaches finally with no connection.

caught by: test_a_worker_cancelled_while_it_waits_for_a_connection_ends_cancelled
says: a connection it never got
"""

import asyncio


async def worker(pool, jobs):
    try:
        conn = await pool.acquire()
        for job in jobs:
            await conn.execute(job)
    finally:
        await pool.release(conn)


async def stop(task):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
