"""Awaits db.commit(order) directly, so cancelling the request cancels the commit halfway.

caught by: test_a_request_cancelled_mid_commit_still_commits_the_order
says: awaited directly inside handle_request
"""


async def handle_request(db, order):
    await db.validate(order)
    await db.commit(order)
    return "saved"
