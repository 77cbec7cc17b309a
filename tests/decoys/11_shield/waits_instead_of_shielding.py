"""Waits for the commit with asyncio.wait, which a cancel cannot cut short, and loses its error.

caught by: test_a_failed_commit_fails_the_request
says: although db.commit(order) raised
"""

import asyncio

_commits = set()


async def handle_request(db, order):
    await db.validate(order)
    commit = asyncio.create_task(db.commit(order))
    _commits.add(commit)
    commit.add_done_callback(_commits.discard)
    await asyncio.wait({commit})  # cancelling the request cancels the wait, not the commit
    return "saved"
