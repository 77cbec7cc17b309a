"""Catches Exception around each job so one failed job does not stop the others: its error is lost.

caught by: test_a_failed_job_ends_the_worker_with_its_error_and_the_connection_goes_back
says: ran job 3 after it
"""

import asyncio


async def worker(pool, jobs):
    conn = await pool.acquire()
    try:
        for job in jobs:
            try:
                await conn.execute(job)
            except Exception:
                continue  # a failed job should not take the worker down with it
    finally:
        await pool.release(conn)


async def stop(task):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
