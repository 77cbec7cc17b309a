"""Calls blocking() straight from handle(), on the event loop's thread, while the steps run.

caught by: test_every_record_of_a_request_carries_its_id
says: blocking() ran on the event loop's thread
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


class RequestIdFilter(logging.Filter):
    """Stamps every log record with the request it was logged in, and never drops one.

    Added to a handler (`handler.addFilter(RequestIdFilter())`), it sets `record.request_id` to
    the value of `request_id` where the record was logged ("-" outside any request), so that a
    format such as "%(request_id)s %(message)s" shows each line's request.
    Stage 2: it also sets `record.tags` to the tags in effect there (`{}` when there are none).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # Read at each record: the value of the context the logging code runs in.
        record.request_id = request_id.get()
        record.tags = tags.get({})
        return True  # stamp, never drop


async def handle(rid: str, steps: Sequence[Step], blocking: Callable[[], str]) -> list[str]:
    """Serve the request `rid`: its steps as tasks and `blocking()` in a worker thread, at once.

    Wherever the request's code runs (each step's task, the worker thread, every log record
    they write), `request_id.get()` returns `rid`. Returns the results, the steps' in their
    order, then blocking()'s. Once handle() returns or raises, its caller sees the id it had
    before.
    """
    # Set once, before anything starts: each task and thread takes a copy of this context.
    token = request_id.set(rid)
    try:
        async with asyncio.TaskGroup() as tg:
            running = [tg.create_task(step()) for step in steps]
            # A plain function: call it while the steps' tasks run.
            blocked = blocking()
        return [task.result() for task in running] + [blocked]
    finally:
        # handle() runs in its caller's task: give the caller back the id it had.
        request_id.reset(token)


def tag(name: str, value: str) -> None:
    """Stage 2: from now on, the log records of the calling code carry the tag `name=value`.

    The tag holds in the calling task and in the tasks and threads it starts afterwards, next
    to the tags it already had; the task's parent and its siblings never see it.
    """
    # A new dict: the one in this context is the very object the parent and siblings hold.
    tags.set({**tags.get({}), name: value})
