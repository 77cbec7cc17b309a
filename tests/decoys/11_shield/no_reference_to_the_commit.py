"""Shields the commit task but keeps it only in a local variable: the garbage collector may take it.

caught by: test_a_commit_that_outlives_its_request_is_kept_until_it_is_done
says: destroyed the commit task
"""

import asyncio


async def handle_request(db, order):
    await db.validate(order)
    commit = asyncio.create_task(db.commit(order))
    await asyncio.shield(commit)
    return "saved"
