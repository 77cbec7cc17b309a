"""Releases the connection only in except CancelledError: a worker out of jobs keeps it.

caught by: test_the_worker_runs_its_jobs_on_one_connection_and_gives_it_back
says: returned without giving the connection back
"""

import asyncio


async def worker(pool, jobs):
    conn = await pool.acquire()
    try:
        for job in jobs:
            await conn.execute(job)
    except asyncio.CancelledError:
        await pool.release(conn)
        raise


async def stop(task):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
