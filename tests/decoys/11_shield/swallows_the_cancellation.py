"""Shields the commit, then catches the CancelledError, waits for the commit and returns "saved".

caught by: test_a_request_cancelled_mid_commit_still_ends_cancelled
says: swallowed the cancellation
"""

import asyncio


async def handle_request(db, order):
    await db.validate(order)
    commit = asyncio.create_task(db.commit(order))
    try:
        await asyncio.shield(commit)
    except asyncio.CancelledError:
        await commit  # the order is saved anyway, so the request succeeded
    return "saved"
