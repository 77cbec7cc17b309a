from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, cast

import awaiting
import pytest
from harness import Timeline, fail, scaled, task_origins

DELAY = scaled(0.2)
# Slowest first: sent in turn they still come back in the order they were given.
ITEMS = [(scaled(0.2), "Hi!"), (scaled(0.1), "How are you?")]
CALL = f"messages_in_turn([{', '.join(f'({d:g}, {m!r})' for d, m in ITEMS)}])"


async def test_delayed_message_waits_its_delay_then_returns_the_message(
    timeline: Timeline,
) -> None:
    watch_delayed_message(timeline)
    with timeline.expect_duration(
        0.2,
        what=f"delayed_message({DELAY:g}, 'Hi!'), whose delay is in seconds, not milliseconds,",
        advice="`await asyncio.sleep(delay)` once, then return the message.",
    ):
        message = await awaiting.delayed_message(DELAY, "Hi!")
    if message != "Hi!":
        fail(
            f"delayed_message({DELAY:g}, 'Hi!') returned {message!r}, expected 'Hi!'.\n"
            "Try: return the message it was given, after the wait."
        )


async def test_delayed_message_lets_other_tasks_run_while_it_waits() -> None:
    tick = scaled(0.01)
    ticks = 0
    waiting = True

    async def another_task() -> None:
        nonlocal ticks
        while waiting:
            ticks += 1
            await asyncio.sleep(tick)

    ticker = asyncio.create_task(another_task())
    try:
        await awaiting.delayed_message(DELAY, "Hi!")
    finally:
        waiting = False
        await ticker
    if ticks == 0:
        fail(
            f"While delayed_message({DELAY:g}, 'Hi!') waited, another task ticked {ticks} times "
            f"(expected about {DELAY / tick:.0f}, at least once): the event loop was frozen for "
            "the whole wait, so no other task could make progress.\n"
            "Likely mistake: time.sleep() (it blocks the whole loop), or a wait that never "
            "reaches an `await`.\n"
            "Try: `await asyncio.sleep(delay)`: it pauses only this coroutine."
        )


async def test_each_message_is_sent_only_after_the_previous_one_is_done(
    timeline: Timeline,
) -> None:
    watch_delayed_message(timeline)
    with task_origins() as origins:
        await awaiting.messages_in_turn(ITEMS)
    calls = len(timeline.spans)
    if calls != len(ITEMS):
        fail(
            f"{CALL} called delayed_message {calls} times, expected {len(ITEMS)}: once per "
            "message.\nTry: call delayed_message(delay, message) for every item.\n\n"
            + timeline.draw()
        )
    expect_one_after_another(timeline, "messages_in_turn", origins)


async def test_messages_come_back_in_the_order_they_were_given(timeline: Timeline) -> None:
    watch_delayed_message(timeline)
    results = await awaiting.messages_in_turn(ITEMS)
    expected = [message for _, message in ITEMS]
    if results != expected:
        fail(
            f"{CALL} returned {results!r}, expected {expected!r}: the messages in the order "
            "they were given.\nTry: append each result as soon as its await returns, then "
            "return the list.\n\n" + timeline.draw()
        )


async def test_no_messages_give_an_empty_list() -> None:
    results = await awaiting.messages_in_turn([])
    if results != []:
        fail(f"messages_in_turn([]) returned {results!r}, expected []: no items, no messages.")


async def test_messages_in_turn_take_the_sum_of_their_delays(timeline: Timeline) -> None:
    watch_delayed_message(timeline)
    with timeline.expect_duration(
        0.3,
        what=f"{CALL}, one message after the other,",
        too_early="await each delayed_message before the next one starts.",
        too_slow="it waited longer than the two delays: a sleep of its own, or a message "
        "waited for twice.",
        advice="for each item, `await delayed_message(delay, message)` once, nothing else.",
    ):
        await awaiting.messages_in_turn(ITEMS)


def watch_delayed_message(timeline: Timeline) -> None:
    timeline.spy(
        awaiting,
        "delayed_message",
        label=lambda delay, message: f"delayed_message({delay:g}, {message!r})",
    )


def expect_one_after_another(
    timeline: Timeline, what: str, origins: dict[asyncio.Task[Any], str]
) -> None:
    """Probe (no clock): every call started only after the one before it had ended."""
    __tracebackhide__ = True
    spans = sorted(timeline.spans, key=lambda span: span.start)
    begin = spans[0].start if spans else 0.0
    for earlier, later in itertools.pairwise(spans):
        if earlier.end is None or later.start < earlier.end:
            until = f"until {earlier.end - begin:.2f} s" if earlier.end else "never finished"
            fail(
                f"{later.label} started at {later.start - begin:.2f} s, while {earlier.label} "
                f"was still running ({until}): {what} did not wait for the previous one to be "
                "done before sending the next.\n"
                f"{_seen(later.task, origins)}"
                "Expected: each message sent only once the previous one is done.\n"
                "Try: `await delayed_message(delay, message)` for each item in a for loop, "
                "and nothing else: this kata is about waiting.\n\n" + timeline.draw()
            )


def _seen(task: asyncio.Task[Any] | None, origins: dict[asyncio.Task[Any], str]) -> str:
    """What the run showed about the task a call ran in, as a line of the message (or "")."""
    origin = origins.get(task) if task is not None else None
    if origin == "asyncio.gather":
        return (
            "Seen: the calls ran in tasks started by asyncio.gather, which runs everything it "
            "is given at the same time.\n"
        )
    if origin in ("asyncio.create_task", "loop.create_task"):
        return (
            "Seen: each call ran in a task of its own, made with asyncio.create_task: a task "
            "starts at your next await, however late you await the task itself.\n"
        )
    if origin is not None:
        return f"Seen: the calls ran in tasks started by {origin}, side by side.\n"
    return ""
