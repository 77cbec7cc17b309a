"""Starts the commit as a background task and returns "saved" without waiting for it.

caught by: test_a_request_is_validated_then_committed_once_and_saved
says: before the commit had finished
"""

import asyncio


async def handle_request(db, order):
    await db.validate(order)
    asyncio.create_task(db.commit(order))  # a task of its own: no cancel can reach it
    return "saved"
