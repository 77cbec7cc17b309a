"""Shields the whole request, validation included, so a request cancelled early still commits.

caught by: test_a_request_cancelled_during_validation_commits_nothing
says: the validation was shielded too
"""

import asyncio


async def handle_request(db, order):
    async def validate_and_commit():
        await db.validate(order)
        await db.commit(order)
        return "saved"

    return await asyncio.shield(validate_and_commit())
