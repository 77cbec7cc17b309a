"""Reads the commit's exception in a done callback to keep asyncio quiet: a late failure is lost.

caught by: test_a_commit_that_fails_after_its_request_was_cancelled_is_reported
says: the commit task is gone and nothing reported its error
"""

import asyncio
from typing import Protocol


class Database(Protocol):
    """The shop's database (the times are what each call takes)."""

    async def validate(self, order: str) -> None:
        """Check stock and payment for the order (0.1 s). Nothing is written: safe to cancel."""
        ...

    async def commit(self, order: str) -> None:
        """Write the order for good (0.3 s). Cancelled halfway, the write is rolled back."""
        ...


# Commits that may outlive their request. The event loop keeps only weak references to tasks,
# so each commit is held here until it is done.
_commits: set[asyncio.Task[None]] = set()


def _forget(commit: asyncio.Task[None]) -> None:
    _commits.discard(commit)
    if not commit.cancelled():
        commit.exception()  # mark its outcome as seen: no "Task exception was never retrieved"


async def handle_request(db: Database, order: str) -> str:
    """Validate the order, then commit it; return "saved" once the commit has finished.

    The client may hang up (the request is cancelled) at any moment:
    - during the validation: stop there, commit nothing;
    - during the commit: the commit still finishes, and handle_request still ends cancelled
      (the CancelledError reaches its caller).
    """
    # Nothing is written yet: a cancel here simply ends the request.
    await db.validate(order)
    # The commit runs as a task of its own, and we keep it until it is done.
    commit = asyncio.create_task(db.commit(order))
    _commits.add(commit)
    commit.add_done_callback(_forget)
    # shield: a cancel stops our waiting, not the commit. The CancelledError still reaches us,
    # and we let it go on to our caller.
    await asyncio.shield(commit)
    return "saved"
