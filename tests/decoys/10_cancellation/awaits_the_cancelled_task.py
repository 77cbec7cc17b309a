"""Cancels the task and awaits it bare, so the task's CancelledError escapes into the caller.

caught by: test_stop_returns_normally_to_its_caller
says: raised CancelledError into its caller
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
    await task
