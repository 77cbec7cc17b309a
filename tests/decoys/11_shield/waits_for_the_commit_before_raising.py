"""Catches the CancelledError to await the commit first, then re-raises: the caller waits for it.

caught by: test_a_request_cancelled_mid_commit_still_ends_cancelled
says: only once the commit had finished
"""

import asyncio

_commits = set()


async def handle_request(db, order):
    await db.validate(order)
    commit = asyncio.create_task(db.commit(order))
    _commits.add(commit)
    commit.add_done_callback(_commits.discard)
    try:
        await asyncio.shield(commit)
    except asyncio.CancelledError:
        await commit  # make sure the order is written before we go
        raise
    return "saved"
