"""Runs the commit in a task of its own and awaits it, believing a task is safe from the cancel.

caught by: test_a_request_cancelled_mid_commit_still_commits_the_order
says: awaiting a task hands the cancellation on to it
"""

import asyncio


async def handle_request(db, order):
    await db.validate(order)
    commit = asyncio.create_task(db.commit(order))  # its own task: the request cannot cancel it
    await commit
    return "saved"
