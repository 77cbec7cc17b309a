"""Keeps the id in a module-level variable: requests served at once overwrite each other's id.

caught by: test_requests_served_at_once_each_see_their_own_id
says: overwrote
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from contextvars import ContextVar
from typing import Any

# The id of the request the running code serves: "-" outside any request.
request_id: ContextVar[str] = ContextVar("request_id", default="-")
# Stage 2: the tags of the running code, added by tag(); not set: no tags.
tags: ContextVar[dict[str, str]] = ContextVar("tags")

# A step of a request: an async function; call it (no arguments) to get its coroutine.
Step = Callable[[], Coroutine[Any, Any, str]]

# The id of the current request.
_current = "-"


class RequestIdFilter(logging.Filter):
    """Stamps every log record with the request it was logged in, and never drops one.

    Added to a handler (`handler.addFilter(RequestIdFilter())`), it sets `record.request_id` to
    the value of `request_id` where the record was logged ("-" outside any request), so that a
    format such as "%(request_id)s %(message)s" shows each line's request.
    Stage 2: it also sets `record.tags` to the tags in effect there (`{}` when there are none).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # Read at each record: the id of the current request.
        record.request_id = _current
        record.tags = tags.get({})
        return True  # stamp, never drop


async def handle(rid: str, steps: Sequence[Step], blocking: Callable[[], str]) -> list[str]:
    """Serve the request `rid`: its steps as tasks and `blocking()` in a worker thread, at once.

    Wherever the request's code runs (each step's task, the worker thread, every log record
    they write), `request_id.get()` returns `rid`. Returns the results, the steps' in their
    order, then blocking()'s. Once handle() returns or raises, its caller sees the id it had
    before.
    """
    global _current
    # Set once, before anything starts.
    before, _current = _current, rid
    try:
        async with asyncio.TaskGroup() as tg:
            running = [tg.create_task(step()) for step in steps]
            # to_thread runs blocking() in a copy of this context (run_in_executor would not).
            in_thread = tg.create_task(asyncio.to_thread(blocking))
        return [task.result() for task in running] + [in_thread.result()]
    finally:
        # Give the caller back the id it had.
        _current = before


def tag(name: str, value: str) -> None:
    """Stage 2: from now on, the log records of the calling code carry the tag `name=value`.

    The tag holds in the calling task and in the tasks and threads it starts afterwards, next
    to the tags it already had; the task's parent and its siblings never see it.
    """
    # A new dict: the one in this context is the very object the parent and siblings hold.
    tags.set({**tags.get({}), name: value})
