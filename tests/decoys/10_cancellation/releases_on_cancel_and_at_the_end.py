"""Releases in except CancelledError and after the loop: a job that raises skips both releases.

caught by: test_a_failed_job_ends_the_worker_with_its_error_and_the_connection_goes_back
says: skipped when a job raises
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
    await pool.release(conn)


async def stop(task):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
