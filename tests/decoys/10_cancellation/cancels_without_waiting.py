"""Cancels the task and returns at once, before the task has even started its cleanup.

caught by: test_stop_returns_only_once_the_worker_has_given_its_connection_back
says: had not even received its CancelledError
"""


async def worker(pool, jobs):
    conn = await pool.acquire()
    try:
        for job in jobs:
            await conn.execute(job)
    finally:
        await pool.release(conn)


async def stop(task):
    task.cancel()
