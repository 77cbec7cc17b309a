"""Guards each job with except BaseException so one bad job cannot kill the worker: a cancel too.

caught by: test_a_cancelled_worker_ends_cancelled_instead_of_carrying_on
says: ignored cancellation
"""

import asyncio


async def worker(pool, jobs):
    conn = await pool.acquire()
    try:
        for job in jobs:
            try:
                await conn.execute(job)
            except BaseException as error:  # a failed job must not stop the worker
                print(f"{job} failed: {error!r}, moving on")
    finally:
        await pool.release(conn)


async def stop(task):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
