import asyncio
import itertools

import awaiting
import pytest
from harness import Timeline, scaled

DELAY = scaled(0.2)
# Slowest first: sent in turn they still come back in the order they were given.
ITEMS = [(scaled(0.2), "Hi!"), (scaled(0.1), "How are you?")]
CALL = f"messages_in_turn([{', '.join(f'({d:g}, {m!r})' for d, m in ITEMS)}])"


def watch_delayed_message(timeline: Timeline) -> None:
    timeline.spy(
        awaiting,
        "delayed_message",
        label=lambda delay, message: f"delayed_message({delay:g}, {message!r})",
    )


def expect_one_after_another(timeline: Timeline, what: str) -> None:
    """Probe (no clock): every call started only after the one before it had ended."""
    __tracebackhide__ = True
    spans = sorted(timeline.spans, key=lambda span: span.start)
    begin = spans[0].start if spans else 0.0
    for earlier, later in itertools.pairwise(spans):
        if earlier.end is None or later.start < earlier.end:
            until = f"until {earlier.end - begin:.2f} s" if earlier.end else "never finished"
            pytest.fail(
                f"{later.label} started at {later.start - begin:.2f} s, while {earlier.label} "
                f"was still running ({until}): {what} did not wait for the previous one to be "
                "done before sending the next.\n"
                "Expected: each message sent only once the previous one is done.\n"
                "Likely mistake: asyncio.gather, create_task or a TaskGroup, which start them "
                "all at once (this kata is about the opposite: waiting).\n"
                "Try: `await delayed_message(delay, message)` for each item in a for loop.\n\n"
                + timeline.draw(),
                pytrace=False,
            )


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
    assert message == "Hi!", (
        f"delayed_message({DELAY:g}, 'Hi!') returned {message!r}, expected 'Hi!'. "
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
    assert ticks > 0, (
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
    await awaiting.messages_in_turn(ITEMS)
    calls = len(timeline.spans)
    assert calls == len(ITEMS), (
        f"{CALL} called delayed_message {calls} times, expected {len(ITEMS)}: once per "
        "message. Try: call delayed_message(delay, message) for every item.\n\n" + timeline.draw()
    )
    expect_one_after_another(timeline, "messages_in_turn")


async def test_messages_come_back_in_the_order_they_were_given(timeline: Timeline) -> None:
    watch_delayed_message(timeline)
    results = await awaiting.messages_in_turn(ITEMS)
    expected = [message for _, message in ITEMS]
    assert results == expected, (
        f"{CALL} returned {results!r}, expected {expected!r}: the messages in the order they "
        "were given. Try: append each result as soon as its await returns, then return the "
        "list.\n\n" + timeline.draw()
    )


async def test_messages_in_turn_take_the_sum_of_their_delays(timeline: Timeline) -> None:
    watch_delayed_message(timeline)
    total = sum(delay for delay, _ in ITEMS)
    parts = " + ".join(f"{delay:.2f}" for delay, _ in ITEMS)
    # One after another is the requirement, so the ideal IS the sum: no `delays=` here.
    with timeline.expect_duration(
        0.3,
        what=f"{CALL}, sent one after another ({parts} = {total:.2f} s),",
        advice="await delayed_message for each message in turn and nothing more: "
        "one after another, the total is the sum of the delays.",
    ):
        await awaiting.messages_in_turn(ITEMS)
