from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import thread_bridge
from harness import MARGIN, Span, Timeline, Wakeups, cancel_midway, fail, scaled

# The SDK's messages and when its thread sends them, in seconds after subscribe(). The last one
# comes 0.02 s after a 0.25 s poll would look and 0.23 s before the next look: polling is late.
SCHEDULE = {"order-1 paid": 0.07, "order-2 paid": 0.17, "order-3 paid": 0.27}
MESSAGES = list(SCHEDULE)
CALL = f"receive(sdk, {len(MESSAGES)})"
WAIT = 1.0  # seconds receive() may take before the test gives up on it (it needs 0.27 s)
TICK = 0.01  # the heartbeat: a task that ticks this often while receive() waits
# receive() wakes once per message handed over (fewer if two come in one turn), and once more
# at the start: more than that is polling.
MOST_WAKEUPS = len(MESSAGES) + 2


# asyncio's thread-unsafe calls a callback is likely to make, by file and function.
UNSAFE = {
    ("queues.py", "put_nowait"): "asyncio.Queue.put_nowait()",
    ("locks.py", "set"): "asyncio.Event.set()",
}


async def test_the_messages_arrive_in_the_order_they_were_sent(sdk: PaymentsSdk) -> None:
    messages = await receive(sdk)
    if messages == MESSAGES:
        return
    fail(
        f"{CALL} returned {messages!r}, expected {MESSAGES}: the messages the SDK sent, in the "
        "order it sent them.\n"
        "Try: put each message into one asyncio.Queue as it comes, and `await queue.get()` "
        f"{len(MESSAGES)} times.\n\n" + sdk.timeline.draw()
    )


async def test_each_message_is_handed_to_the_loop_thread_safely(
    sdk: PaymentsSdk, loop_guard: LoopGuard
) -> None:
    await receive(sdk)
    if not loop_guard.foreign:
        return
    fail(
        f"{CALL}: {loop_guard.foreign[0]}.\n"
        "That is not thread-safe. An asyncio.Queue, its waiting get() and the loop itself "
        "belong to the loop's thread. Touched from another thread, the loop is not woken up: "
        "asleep, waiting for I/O, it may notice the message late or never. In debug mode "
        "asyncio refuses outright ('Non-thread-safe operation'), and the waiting get() is "
        "lost for good. It seems to work in a quick try, then hangs in production. (This "
        "test passed the call on safely, so that you read this instead of a hang.)\n"
        "Expected: the SDK's thread only ASKS the loop to do the work, with "
        "loop.call_soon_threadsafe, which queues the call and wakes the loop.\n"
        "Try: loop = asyncio.get_running_loop() in receive, then in the callback "
        "loop.call_soon_threadsafe(queue.put_nowait, msg).\n\n" + sdk.timeline.draw()
    )


async def test_receive_returns_as_soon_as_the_last_message_arrives(sdk: PaymentsSdk) -> None:
    await receive(sdk)
    last = MESSAGES[-1]
    returned, sent = sdk.timeline.span(CALL).end or 0.0, sdk.sent[last]
    late = returned - sent
    if late <= scaled(MARGIN):
        return
    returned, sent = sdk.timeline.drawn(returned), sdk.timeline.drawn(sent)
    seen = (
        f"receive was woken {sdk.woken:,} times: it polls, checking for messages every so "
        "often, and sees one only at its next check."
        if sdk.woken > MOST_WAKEUPS
        else "the message did not wake receive."
    )
    fail(
        f"{CALL} returned at {returned:.2f} s, {late:.2f} s after the SDK had delivered the "
        f"last message ({last!r} at {sent:.2f} s): {seen}\n"
        f"Expected: receive back within {scaled(MARGIN):.2f} s of the last message: woken by "
        "it, not by a clock.\n"
        "Try: in the callback, loop.call_soon_threadsafe(queue.put_nowait, msg); in receive, "
        "`await queue.get()`: the loop wakes the moment the message is handed over.\n\n"
        + sdk.timeline.draw()
    )


async def test_receive_waits_for_each_message_without_polling(sdk: PaymentsSdk) -> None:
    await receive(sdk)
    if sdk.woken <= MOST_WAKEUPS:
        return
    fail(
        f"Polling: {CALL} was woken up {sdk.woken:,} times while it waited for "
        f"{len(MESSAGES)} messages, where waiting takes at most {MOST_WAKEUPS}: one wake-up "
        "per message. It checks again and again (a shared list, with `await asyncio.sleep()` "
        "in between) instead of sleeping until a message is handed over: that keeps the event "
        "loop spinning, burns CPU, and each check comes late.\n"
        "Expected: receive sleeps in `await queue.get()`, and each message wakes it once.\n"
        "Try: in the callback, loop.call_soon_threadsafe(queue.put_nowait, msg); in receive, "
        f"`await queue.get()` once per message.\n\n{sdk.timeline.draw()}"
    )


async def test_a_receive_cancelled_between_messages_ends_cancelled(
    sdk: PaymentsSdk, timeline: Timeline
) -> None:
    await cancel_midway(
        thread_bridge.receive(sdk, len(MESSAGES)),
        after=0.12,  # after the first message, before the second
        what=f"{CALL}, waiting for its second message,",
        timeline=timeline,
    )


async def test_the_loop_keeps_ticking_while_receive_waits(
    sdk: PaymentsSdk, timeline: Timeline
) -> None:
    async with timeline.heartbeat(TICK) as ticks:
        await receive(sdk)
    sent = [sdk.sent[msg] for msg in MESSAGES]
    for before, after in itertools.pairwise(sent):
        if any(before < tick < after for tick in ticks):
            continue
        before, after = timeline.drawn(before), timeline.drawn(after)
        fail(
            f"The event loop was blocked between the SDK's messages at {before:.2f} s and "
            f"{after:.2f} s: it did not tick once, although a task was waiting to tick every "
            f"{TICK * 1000:.0f} ms. receive held the loop while it waited for the SDK's thread.\n"
            "Likely mistake: a blocking wait on the loop: queue.Queue.get(), "
            "threading.Event.wait(), thread.join(), future.result() or time.sleep().\n"
            "Expected: receive awaits, so the loop runs other tasks while messages are on "
            "their way.\n"
            "Try: an asyncio.Queue filled with loop.call_soon_threadsafe(queue.put_nowait, "
            "msg), and `await queue.get()`.\n\n" + timeline.draw()
        )


async def test_a_thread_gets_the_result_of_a_coroutine_run_on_the_loop(
    timeline: Timeline,
) -> None:
    loop = asyncio.get_running_loop()
    ran_on: list[tuple[asyncio.AbstractEventLoop, str]] = []

    async def order_status() -> str:
        ran_on.append((asyncio.get_running_loop(), threading.current_thread().name))
        status: str = await timeline.work("order_status()", 0.1, "order-7: shipped")
        return status

    call = "run_from_thread(loop, order_status, timeout=1.0), in a worker thread,"
    result = await asyncio.to_thread(thread_bridge.run_from_thread, loop, order_status, scaled(1.0))
    if not ran_on:
        fail(
            f"{call} returned {result!r} without ever calling order_status().\n"
            "Try: asyncio.run_coroutine_threadsafe(make_coro(), loop)."
        )
    ran_loop, ran_thread = ran_on[0]
    if ran_loop is not loop:
        fail(
            f"{call} ran order_status() on another event loop, in the {ran_thread} thread, not "
            "on the loop it was given: asyncio.run() (or any new loop) in the thread starts a "
            "second, private loop. The coroutine then cannot use what lives on the real loop "
            "(its queues, locks, connections), and nothing of it is cancelled with it.\n"
            "Expected: order_status() running as a task on `loop`, in the loop's thread.\n"
            "Try: future = asyncio.run_coroutine_threadsafe(make_coro(), loop), then "
            "future.result(timeout) in the thread.\n\n" + timeline.draw()
        )
    if result != "order-7: shipped":
        fail(
            f"{call} returned {result!r}, expected 'order-7: shipped' (what order_status() "
            "returned).\nTry: return future.result(timeout): the result of the coroutine."
        )


async def test_a_thread_gives_up_at_its_timeout_and_the_coroutine_is_cancelled(
    timeline: Timeline,
) -> None:
    loop = asyncio.get_running_loop()
    label = "order_status() (takes 0.3 s)"

    async def order_status() -> str:
        status: str = await timeline.work(label, 0.3, "order-7: shipped")
        return status

    call = "run_from_thread(loop, order_status, timeout=0.1), in a worker thread,"
    started = timeline.now()
    try:
        result = await asyncio.to_thread(
            thread_bridge.run_from_thread, loop, order_status, scaled(0.1)
        )
    except TimeoutError:
        pass
    else:
        fail(
            f"{call} returned {result!r} after {timeline.now() - started:.2f} s; expected "
            "TimeoutError after 0.1 s: order_status() takes 0.3 s, longer than the thread "
            "may wait.\nTry: future.result(timeout) raises TimeoutError when the time is up.\n\n"
            + timeline.draw()
        )
    gave_up = timeline.now() - started
    span = timeline.span(label)
    if span.task is not None and span.task.get_loop() is loop:
        await asyncio.wait({span.task})  # cancelled at once, or run to its end at 0.3 s
    if span.cancelled:
        return
    fail(
        f"{call} gave up with TimeoutError after {gave_up:.2f} s, but order_status() ran on to "
        f"its end on the loop, {timeline.now() - started:.2f} s after the start, with nobody "
        "waiting for its answer: future.result(timeout) raising TimeoutError stops the "
        "waiting, not the coroutine.\n"
        "Expected: the coroutine cancelled the moment the thread gives up.\n"
        "Try: except TimeoutError: future.cancel(); raise. (The future that "
        "run_coroutine_threadsafe returned cancels its task on the loop.)\n\n" + timeline.draw()
    )


class LoopGuard:
    """Watches the test's event loop for work scheduled on it from another thread.

    The loop is not thread-safe: from another thread only loop.call_soon_threadsafe and
    asyncio.run_coroutine_threadsafe may touch it. asyncio.Queue.put_nowait, Future.set_result
    and loop.call_soon schedule work with loop.call_soon, which neither locks the loop nor wakes
    it up. In debug mode asyncio refuses such a call from a foreign thread, and the task that
    waited for it is lost for good. The guard notes the call and passes it on safely
    instead, so the test can name the mistake rather than hang.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch) -> None:
        self.thread = threading.get_ident()
        self.foreign: list[str] = []  # what touched the loop from another thread
        call_soon = loop.call_soon

        def guarded(callback: Callable[..., Any], *args: Any, context: Any = None) -> Any:
            if threading.get_ident() == self.thread:
                return call_soon(callback, *args, context=context)
            self.foreign.append(_who_called_call_soon())
            return loop.call_soon_threadsafe(callback, *args, context=context)

        monkeypatch.setattr(loop, "call_soon", guarded)


def _who_called_call_soon() -> str:
    """Which code called loop.call_soon from this (foreign) thread: asyncio's and the learner's."""
    thread = threading.current_thread().name
    stack = [
        f
        for f in traceback.extract_stack()[:-2]  # without this function and the guard
        if f.filename != __file__ and not f.filename.endswith(("threading.py", "thread.py"))
    ]
    asyncio_dir = f"{os.sep}asyncio{os.sep}"
    inside = [f for f in stack if asyncio_dir in f.filename]
    yours = [f for f in stack if asyncio_dir not in f.filename]
    where = f", in {yours[-1].name}() line {yours[-1].lineno}: `{yours[-1].line}`" if yours else ""
    if inside:
        first = inside[0]
        name = UNSAFE.get((Path(first.filename).name, first.name), f"asyncio's {first.name}()")
        return (
            f"{name} ran in the {thread} thread{where}; it woke the task waiting on the loop "
            "with loop.call_soon, from that thread"
        )
    return f"loop.call_soon() was called from the {thread} thread{where}"


class PaymentsSdk:
    """A fake legacy SDK: subscribe(on_message) starts a background thread, "legacy-sdk", that
    calls on_message(msg) for each message of SCHEDULE at its time, then ends. Like a real SDK,
    it keeps what the callback raises and carries on. Each call is drawn as an instant.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.thread: threading.Thread | None = None
        self.sent: dict[str, float] = {}  # message -> when on_message was called with it
        self.errors: list[str] = []  # what on_message raised, in the SDK's thread
        self.woken = 0  # how many times the task running receive() was woken up

    def subscribe(self, on_message: Callable[[str], None]) -> None:
        if self.thread is not None:
            raise RuntimeError("subscribe() was already called: this SDK has one subscriber")
        self.thread = threading.Thread(
            target=self._deliver, args=(on_message,), name="legacy-sdk", daemon=True
        )
        self.thread.start()

    def _deliver(self, on_message: Callable[[str], None]) -> None:
        begin = time.perf_counter()
        for msg, at in SCHEDULE.items():
            time.sleep(max(0.0, begin + scaled(at) - time.perf_counter()))
            now = self.timeline.now()
            self.timeline.spans.append(Span(f"legacy-sdk: on_message({msg!r})", now, now))
            self.sent[msg] = now
            try:
                on_message(msg)
            except Exception as error:
                self.errors.append(f"on_message({msg!r}) raised {type(error).__name__}: {error}")

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join(scaled(WAIT))


@pytest.fixture(autouse=True)
async def loop_guard(monkeypatch: pytest.MonkeyPatch) -> LoopGuard:
    return LoopGuard(asyncio.get_running_loop(), monkeypatch)


@pytest.fixture
def sdk(timeline: Timeline) -> Iterator[PaymentsSdk]:
    sdk = PaymentsSdk(timeline)
    yield sdk
    sdk.join()


async def receive(sdk: PaymentsSdk) -> list[str]:
    """thread_bridge.receive(sdk, 3), drawn on the timeline; fails clearly if it never returns."""
    span = Span(CALL, sdk.timeline.now())
    sdk.timeline.spans.append(span)
    call = Wakeups(thread_bridge.receive(sdk, len(MESSAGES)))
    try:
        async with asyncio.timeout(scaled(WAIT)):
            messages: list[str] = await call
            return messages
    except TimeoutError:
        pass
    finally:
        span.end = sdk.timeline.now()
        sdk.woken = call.woken
    if sdk.thread is None:
        why = "it never subscribed to the SDK.\nTry: sdk.subscribe(on_message)."
    elif sdk.errors and "no running event loop" in sdk.errors[0]:
        why = (
            f"the callback failed in the SDK's thread: {sdk.errors[0]}.\n"
            "asyncio.get_running_loop() (like everything of the loop) works only in the loop's "
            "thread, and the SDK calls on_message in its own.\n"
            "Try: get the loop in receive (the coroutine runs on the loop's thread), and let the "
            "callback use it: loop.call_soon_threadsafe(queue.put_nowait, msg)."
        )
    elif sdk.errors:
        why = (
            f"the callback failed in the SDK's thread: {sdk.errors[0]}.\n"
            "The SDK catches what on_message raises and carries on, so that message was lost.\n"
            "Try: let the callback do nothing but loop.call_soon_threadsafe(queue.put_nowait, "
            "msg)."
        )
    else:
        why = (
            f"the SDK delivered {len(sdk.sent)} message(s), but receive did not get them.\n"
            "Try: loop.call_soon_threadsafe(queue.put_nowait, msg) in the callback, and "
            "`await queue.get()` once per message in receive."
        )
    fail(
        f"{CALL} had not returned {scaled(WAIT):.1f} s after it started: {why}\n\n"
        + sdk.timeline.draw()
    )
