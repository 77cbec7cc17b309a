from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal

import condition
import pytest
from harness import Timeline, Wakeups, as_scheduled, cancel_midway, fail, listed, loop_turns, scaled

pytestmark = pytest.mark.timeout(2)  # a lost wake-up deadlocks: fail in 1.6 s, not in 5

QUIET = 0.1  # seconds a waiting call is watched while nothing changes
PATIENCE = 0.5  # seconds a woken call gets to go on (a correct one needs a few milliseconds)
TURNS = 10  # event-loop turns that let every task that can move take its steps
WAIT_FOR_ROOM = "await self._changed.wait_for(lambda: len(self._items) < self.capacity)"
WAIT_FOR_ITEM = "await self._changed.wait_for(lambda: len(self._items) > 0)"


async def test_items_come_out_in_the_order_they_went_in(timeline: Timeline) -> None:
    async with Buffer(timeline, capacity=3) as buffer:
        for item in "abc":
            await buffer.put(item)
        got = [await buffer.get() for _ in range(3)]
    if got != ["a", "b", "c"]:
        newest = (
            "Likely mistake: self._items.pop() takes the newest item.\n"
            if got == ["c", "b", "a"]
            else ""
        )
        fail(
            f"put('a'), put('b'), put('c'), then three get()s returned {got}; expected "
            f"['a', 'b', 'c']: first in, first out.\n{newest}"
            "Try: self._items.append(item) adds at the end, self._items.popleft() takes the "
            "oldest."
        )


async def test_a_get_on_an_empty_buffer_waits_for_the_next_put(timeline: Timeline) -> None:
    async with Buffer(timeline, capacity=1) as buffer:
        getter = buffer.getting()
        await loop_turns(TURNS)
        buffer.expect_waiting(
            getter, "the buffer was empty", "a put() brings an item", WAIT_FOR_ITEM
        )
        await buffer.expect_asleep(getter, "(no put yet)", "the buffer stayed empty")
        await buffer.put("x")
        await buffer.expect_done(
            [getter],
            after="put('x') added an item",
            likely="put() does not notify the condition after it adds an item, so the get() "
            "waiting in wait_for() (or wait()) sleeps on.",
            fix="self._changed.notify_all() right after self._items.append(item), still "
            "inside `async with self._changed:`.",
        )
        if getter.task.result() != "x":
            fail(f"{getter.name} {getter.outcome()}; expected 'x'.")


async def test_a_put_on_a_full_buffer_waits_until_a_get_makes_room(timeline: Timeline) -> None:
    async with Buffer(timeline, capacity=1) as buffer:
        await buffer.put("a")
        putter = buffer.putting("b")
        await loop_turns(TURNS)
        buffer.expect_waiting(
            putter,
            "the buffer was full (capacity 1, holding 'a')",
            "a get() makes room",
            WAIT_FOR_ROOM,
        )
        await buffer.expect_asleep(putter, "(no get yet)", "the buffer stayed full")
        if not buffer.changed.waits:
            fail(
                "put('b') on a full buffer waits, as it should, but not on the condition "
                "`self._changed`: nothing waited on it. Something else holds it back (an "
                "asyncio.Queue, which is this very buffer, ready-made?).\n"
                "Expected: put() and get() wait on `self._changed` and wake each other with "
                "notify_all(): the kata is the Condition.\n"
                f"Try: inside `async with self._changed:`, `{WAIT_FOR_ROOM}`.{buffer.picture()}"
            )
        first = await buffer.get()
        await buffer.expect_done(
            [putter],
            after=f"get() took {first!r} and made room",
            likely="get() does not notify the condition after it removes an item, so the "
            "put() waiting for room sleeps on.",
            fix="self._changed.notify_all() right after self._items.popleft(), still inside "
            "`async with self._changed:`.",
        )
        second = await buffer.get()
    if [first, second] != ["a", "b"]:
        fail(
            f"put('a'), then put('b') waiting for room, then two get()s returned "
            f"{[first, second]}; expected ['a', 'b'].\n\n{timeline.draw()}"
        )


async def test_one_get_lets_only_one_of_two_waiting_puts_in(timeline: Timeline) -> None:
    async with Buffer(timeline, capacity=1) as buffer:
        await buffer.put("a")
        putters = [buffer.putting("b"), buffer.putting("c")]
        await loop_turns(TURNS)
        for putter in putters:
            buffer.expect_waiting(
                putter, "the buffer was full (capacity 1)", "a get() makes room", WAIT_FOR_ROOM
            )
        await buffer.get()
        await buffer.expect_one_woken(
            putters,
            after="get() took 'a' and made room",
            likely="get() does not notify the condition after it removes an item.",
            fix="self._changed.notify_all() right after self._items.popleft().",
        )
        buffer.expect_no_error(putters)
        gone_in = [p for p in putters if p.task.done()]
        if len(gone_in) > 1:
            fail(
                "One get() took 'a' and made room for ONE item, yet put('b') and put('c') both "
                f"went in: the buffer now holds {buffer.held} items, over its capacity of 1.\n"
                "What happened: the get() woke both waiting puts (as notify_all() should); the "
                "first one filled the room, and the second went on without looking again.\n"
                "Likely mistake: `if len(self._items) >= self.capacity: await "
                "self._changed.wait()`: an `if` checks once, but a woken task must check the "
                "condition again, since another task may have got there first.\n"
                f"Try: a `while` loop around wait(), or simply `{WAIT_FOR_ROOM}`."
                + buffer.picture()
            )


async def test_one_put_feeds_only_one_of_two_waiting_gets(timeline: Timeline) -> None:
    async with Buffer(timeline, capacity=1) as buffer:
        getters = [buffer.getting(), buffer.getting()]
        await loop_turns(TURNS)
        for getter in getters:
            buffer.expect_waiting(
                getter, "the buffer was empty", "a put() brings an item", WAIT_FOR_ITEM
            )
        await buffer.put("x")
        await buffer.expect_one_woken(
            getters,
            after="put('x') added an item",
            likely="put() does not notify the condition after it adds an item.",
            fix="self._changed.notify_all() right after self._items.append(item).",
        )
        outcomes = sorted(g.outcome() for g in getters)
        if outcomes != ["returned 'x'", "still waiting"]:
            fail(
                "Two get()s waited on an empty buffer, then put('x') added one item: "
                f"{'; '.join(f'{g.name} {g.outcome()}' for g in getters)}.\n"
                "Expected: one get() returns 'x', the other goes on waiting for the next put().\n"
                "What happened: the put() woke both waiting gets (as notify_all() should); the "
                "first took 'x', and the second went on without looking again, into an empty "
                "buffer.\n"
                "Likely mistake: `if not self._items: await self._changed.wait()`: an `if` checks "
                "once, but a woken task must check the condition again, since another task may "
                "have got there first.\n"
                f"Try: a `while` loop around wait(), or simply `{WAIT_FOR_ITEM}`."
                + buffer.picture()
            )


async def test_a_get_wakes_the_waiting_put_even_while_another_get_waits(
    timeline: Timeline,
) -> None:
    async with Buffer(timeline, capacity=1) as buffer:
        getters = [buffer.getting(), buffer.getting()]
        await loop_turns(TURNS)
        for getter in getters:
            buffer.expect_waiting(
                getter, "the buffer was empty", "a put() brings an item", WAIT_FOR_ITEM
            )
        # Started together: put('y') finds 'x' in the buffer and waits beside get() #2
        # (back to back, before get() #1 takes 'x': that is the scenario, even in stress mode).
        with as_scheduled():
            calls = [*getters, buffer.putting("x"), buffer.putting("y")]
        await asyncio.wait({c.task for c in calls}, timeout=scaled(PATIENCE))
        stuck = [c.name for c in calls if not c.task.done()]
        if stuck:
            fail(
                "Two get()s waited on an empty buffer (capacity 1), then put('x') and put('y') "
                f"came in together. {scaled(PATIENCE):.2f} s later, {listed(stuck)} "
                f"{'was' if len(stuck) == 1 else 'were'} still waiting, with "
                f"{buffer.held} item(s) in the buffer: a wake-up was lost.\n"
                "What happens with notify(): put('x') wakes get() #1; put('y') finds the buffer "
                "full and waits; get() #1 takes 'x' and wakes just ONE waiter, the oldest: "
                "get() #2, which finds the buffer empty and goes back to sleep. put('y'), the "
                "one that could go on, is never woken.\n"
                "Likely mistake: notify() (it wakes one waiter) where getters and putters wait "
                "on the same condition, so the one woken may be one that cannot go on.\n"
                "Try: self._changed.notify_all() after every change: every waiter wakes, checks "
                "its own predicate again (wait_for does that), and whoever can go on, goes."
                + buffer.picture()
            )
        buffer.expect_no_error(calls)
        got = sorted(g.task.result() for g in getters)
        if got != ["x", "y"]:
            fail(f"the two get()s returned {got}; expected 'x' and 'y'.")


async def test_producers_and_consumers_pass_every_item_once_without_overfilling(
    timeline: Timeline,
) -> None:
    made = [f"{producer}{n}" for producer in "ABC" for n in range(1, 5)]
    async with Buffer(timeline, capacity=2, draw=False) as buffer:

        async def produce(producer: str) -> None:
            for item in made:
                if item.startswith(producer):
                    await buffer.put(item)

        async def consume() -> None:
            for _ in range(len(made) // 2):
                item = await buffer.get()
                await timeline.work(f"use {item}", 0.01)  # a slow consumer: the buffer fills

        consumers = [buffer.start(consume(), f"consumer {n}") for n in (1, 2)]
        await loop_turns(TURNS)  # the consumers wait on an empty buffer
        producers = [buffer.start(produce(p), f"producer {p}") for p in "ABC"]
        await buffer.expect_done(
            consumers + producers,
            after=f"3 producers began putting {len(made)} items for 2 consumers (capacity 2)",
            likely="a wake-up is lost: notify() instead of notify_all(), or a put() or get() "
            "that does not notify at all.",
            fix="self._changed.notify_all() after every change to the items.",
        )
    said = f"3 producers put {len(made)} items into a buffer of capacity 2, 2 consumers took them"
    if buffer.most > buffer.capacity:
        fail(
            f"{said}; at one moment the buffer held {buffer.most} items (puts returned minus "
            "gets returned), over its capacity of 2.\n"
            "Likely mistake: put() checks for room once (`if`) or not at all; a woken task "
            f"must check again.\nTry: `{WAIT_FOR_ROOM}`."
        )
    if sorted(buffer.got_order) != sorted(made):
        fail(
            f"{said}: the consumers got {sorted(buffer.got_order)}, expected {made}: every "
            "item comes out exactly once, none lost and none twice."
        )
    if buffer.got_order != buffer.put_order:
        fail(
            f"{said}: items went in as {buffer.put_order} but came out as {buffer.got_order}.\n"
            "Expected: first in, first out.\nTry: append() at the end, popleft() from the front."
        )


async def test_a_put_cancelled_while_it_waits_leaves_the_buffer_usable(timeline: Timeline) -> None:
    async with Buffer(timeline, capacity=1) as buffer:
        await buffer.put("a")
        await cancel_midway(
            buffer.buffer.put("b"),
            after=QUIET,
            what="put('b'), waiting for room in a full buffer,",
            timeline=timeline,
        )
        getter = buffer.getting()
        await buffer.expect_done(
            [getter],
            after="put('b') was cancelled and a get() came for 'a'",
            likely="the cancelled put() left the condition's lock held."
            if buffer.buffer._changed.locked()
            else "the cancelled put() left the buffer in a state no get() can go on from.",
            fix="`async with self._changed:` around the wait: it releases the lock however the "
            "block is left, a cancellation too (a bare acquire() needs its release() in "
            "`finally:`).",
        )
        got = getter.task.result()
        if got != "a" or len(buffer.buffer):
            fail(
                "put('a') into a buffer of capacity 1, then put('b') waiting for room and "
                f"cancelled, then get(): it returned {got!r} and the buffer holds "
                f"{len(buffer.buffer)} item(s); expected 'a' and an empty buffer: a cancelled "
                "put() adds nothing."
            )


async def test_a_get_cancelled_while_it_waits_takes_nothing_and_the_other_get_is_served(
    timeline: Timeline,
) -> None:
    async with Buffer(timeline, capacity=1) as buffer:
        other = buffer.getting()  # get() #1 waits on the empty buffer, and stays
        await loop_turns(TURNS)
        await cancel_midway(
            buffer.buffer.get(),
            after=QUIET,
            what="get(), waiting on an empty buffer beside get() #1,",
            timeline=timeline,
        )
        changed = buffer.buffer._changed
        if changed.locked():
            changed.release()  # so that get() #1 can be stopped when the test ends
            fail(
                "get() #1 and a second get() waited on an empty buffer, and the second one was "
                "cancelled. Once it had ended, the lock of `self._changed` was still held, with "
                "no call running inside it: the cancelled get() kept it on its way out, and "
                "every put() and get() after it would wait for that lock for ever.\n"
                "Expected: a cancelled get() gives the lock back; the buffer stays usable.\n"
                "Try: `async with self._changed:` around the wait in get() too: it releases the "
                "lock however the block is left, a cancellation too (a bare acquire() needs its "
                f"release() in `finally:`).{buffer.picture()}"
            )
        putter = buffer.putting("x")
        await buffer.expect_done(
            [putter, other],
            after="the other waiting get() was cancelled, then put('x') came",
            likely="the cancelled get() left the buffer in a state no call can go on from.",
            fix="wait with `await self._changed.wait_for(...)` inside `async with "
            "self._changed:`, and change the items only once the wait is over.",
        )
        got = other.task.result()
        if got != "x" or len(buffer.buffer):
            fail(
                "get() #1 and a second get() waited on an empty buffer, the second one was "
                f"cancelled, then put('x'): get() #1 returned {got!r} and the buffer holds "
                f"{len(buffer.buffer)} item(s); expected 'x' and an empty buffer: a cancelled "
                f"get() takes nothing, and the item goes to a get() that still waits."
                + buffer.picture()
            )


class CountedCondition(asyncio.Condition):
    """An asyncio.Condition that counts the waits on it (wait_for() waits through wait())."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    async def wait(self) -> Literal[True]:
        self.waits += 1
        return await super().wait()


@dataclass
class Call:
    """A put() or get() running in a task of its own."""

    name: str
    task: asyncio.Task[Any]
    wakeups: Wakeups

    def outcome(self) -> str:
        if not self.task.done():
            return "still waiting"
        error = self.task.exception()
        return f"raised {error!r}" if error else f"returned {self.task.result()!r}"


class Buffer:
    """condition.BoundedBuffer watched from outside: calls drawn on the timeline, items counted.

    `held` is what the callers saw: items whose put() returned minus items get() returned;
    `most` is its peak. `put_order` and `got_order` list the items as the calls returned.
    """

    def __init__(self, timeline: Timeline, capacity: int, *, draw: bool = True) -> None:
        self.timeline = timeline
        self.capacity = capacity
        self.buffer = condition.BoundedBuffer(capacity)
        self.changed = CountedCondition()  # the same Condition, its waits counted
        self.buffer._changed = self.changed
        self.held = self.most = 0
        self.put_order: list[str] = []
        self.got_order: list[str] = []
        self.calls: list[Call] = []
        self._numbers = itertools.count(1)
        self.draw = draw
        if draw:
            timeline.spy(self.buffer, "put", label=lambda item: f"put({item!r})")
            timeline.spy(self.buffer, "get", label=_getter_name)

    async def __aenter__(self) -> Buffer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop the calls still waiting, so that a failing test leaves no task behind."""
        for call in self.calls:
            call.task.cancel()
        await asyncio.gather(*(call.task for call in self.calls), return_exceptions=True)

    async def put(self, item: str) -> None:
        await self.buffer.put(item)
        self.put_order.append(item)
        self.held += 1
        self.most = max(self.most, self.held)

    async def get(self) -> str:
        item = await self.buffer.get()
        self.got_order.append(item)
        self.held -= 1
        return item

    def start(self, call: Awaitable[Any], name: str) -> Call:
        """Run `call` in a task named `name`, counting its wake-ups."""
        wakeups = Wakeups(call)

        async def run() -> Any:
            return await wakeups

        started = Call(name, asyncio.create_task(run(), name=name), wakeups)
        self.calls.append(started)
        return started

    def putting(self, item: str) -> Call:
        return self.start(self.put(item), f"put({item!r})")

    def getting(self) -> Call:
        return self.start(self.get(), f"get() #{next(self._numbers)}")

    def expect_waiting(self, call: Call, because: str, until: str, wait_for: str) -> None:
        """The call has not returned: it waits (a failure of its own is raised here)."""
        __tracebackhide__ = True
        if not call.task.done():
            return
        error = call.task.exception()
        if isinstance(error, NotImplementedError):
            raise error
        fail(
            f"{call.name} {call.outcome()} although {because}: it did not wait.\n"
            f"Expected: {call.name} waits (its task stays suspended) until {until}.\n"
            f"Try: inside `async with self._changed:`, `{wait_for}` before you touch the "
            f"items.{self.picture()}"
        )

    def picture(self) -> str:
        """The timeline of the calls, to end a failure message with (when they are drawn)."""
        return f"\n\n{self.timeline.draw()}" if self.draw else ""

    async def expect_asleep(self, call: Call, quiet: str, still: str) -> None:
        """The waiting call is not woken while nothing happens for QUIET seconds (`quiet`)."""
        __tracebackhide__ = True
        before = call.wakeups.woken
        await self.timeline.work(quiet, QUIET)
        woken = call.wakeups.woken - before
        if woken > 2:
            fail(
                f"{call.name} was woken {woken:,} times in {scaled(QUIET):.2f} s while {still}: "
                "it busy-waits, checking the buffer again and again with `await asyncio.sleep()` "
                "in between. That keeps the event loop spinning and burns CPU for nothing.\n"
                "Expected: no wake-up at all until another call changes the buffer.\n"
                "Try: `await self._changed.wait_for(predicate)` inside `async with "
                "self._changed:`: the task sleeps until a notify, then checks the predicate "
                f"again.{self.picture()}"
            )

    async def expect_done(self, calls: list[Call], after: str, likely: str, fix: str) -> None:
        """Every call returns within PATIENCE seconds of `after` (a failed call raises here)."""
        __tracebackhide__ = True
        await asyncio.wait({call.task for call in calls}, timeout=scaled(PATIENCE))
        stuck = [call.name for call in calls if not call.task.done()]
        if stuck:
            self._fail_stuck(stuck, after, likely, fix)
        self.expect_no_error(calls)

    def expect_no_error(self, calls: list[Call]) -> None:
        """None of the finished calls raised (the stub's NotImplementedError is raised as is)."""
        __tracebackhide__ = True
        for call in calls:
            error = call.task.exception() if call.task.done() else None
            if isinstance(error, NotImplementedError):
                raise error
            if error is not None:
                fail(
                    f"{call.name} raised {error!r} once it was woken: it went on without "
                    "checking the buffer again, and another task had been there first.\n"
                    "Likely mistake: `if ...: await self._changed.wait()`: an `if` checks once.\n"
                    "Try: a `while` loop around wait(), or simply `await "
                    f"self._changed.wait_for(predicate)`.{self.picture()}"
                )

    async def expect_one_woken(self, calls: list[Call], after: str, likely: str, fix: str) -> None:
        """One of the calls returns within PATIENCE seconds of `after`; the others may take
        their turns too (the test checks what they did)."""
        __tracebackhide__ = True
        tasks = {call.task for call in calls}
        await asyncio.wait(tasks, timeout=scaled(PATIENCE), return_when=asyncio.FIRST_COMPLETED)
        if not any(task.done() for task in tasks):
            self._fail_stuck([call.name for call in calls], after, likely, fix)
        await loop_turns(TURNS)

    def _fail_stuck(self, stuck: list[str], after: str, likely: str, fix: str) -> None:
        __tracebackhide__ = True
        one = len(stuck) == 1
        fail(
            f"{listed(stuck)} {'was' if one else 'were'} still waiting "
            f"{scaled(PATIENCE):.2f} s after {after}: nobody woke {'it' if one else 'them'}.\n"
            f"Likely mistake: {likely}\nTry: {fix}{self.picture()}"
        )


def _getter_name() -> str:
    """The row of a get() on the timeline: the task's name when the test started it as one."""
    task = asyncio.current_task()
    name = task.get_name() if task else ""
    return name if name.startswith("get() #") else "get()"
