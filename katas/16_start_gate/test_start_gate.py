from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, Literal

import pytest
import start_gate
from harness import (
    Timeline,
    cancel_midway,
    fail,
    left_running_after,
    listed,
    loop_turns,
    scaled,
    started_tasks,
    swap_in,
)

# Every scenario is over within 0.5 s: a client stuck at a shut gate fails in 1 s, not 5.
pytestmark = pytest.mark.timeout(2)

CONNECT = {"A": 0.1, "B": 0.3, "C": 0.2}  # seconds each client takes to connect
SEND = 0.1  # every request takes 0.1 s
GO_AT = 0.4  # the operator's go, once every client has connected
LATE_GO_AT = 0.15  # go while C (until 0.2 s) and B (until 0.3 s) are still connecting
SLOW_GO_AT = 0.6  # the polling test: A waits 0.5 s at the gate, C 0.4 s, B 0.3 s
GO_AFTER_TURNS = 3  # the go of the test without a clock: a few loop turns after connecting
TURNS = 10  # every request must be sent within this many loop turns after go
STUCK_AFTER = 1.0  # no scenario needs more than 0.5 s: still running after 1 s means stuck
REPLIES = [f"reply to {name}" for name in CONNECT]
ONE_GATE = (
    "create ONE asyncio.Event in burst(); give every client a task that connects, then "
    "`await gate.wait()`, then sends; after `await go()`, call gate.set()."
)
ORIGINAL_EVENT = asyncio.Event  # start_gate.py sees a watched subclass in its place


def call_text(go_at: float | None = GO_AT) -> str:
    """The call under test, with the times it runs at (stretched by KATA_TIME_SCALE)."""
    if go_at is None:
        return "burst([A, B, C], go)"
    clients = ", ".join(f"{n} connects in {scaled(d):.2f} s" for n, d in CONNECT.items())
    return f"burst([{clients}], go at {scaled(go_at):.2f} s)"


CALL, LATE_CALL = call_text(GO_AT), call_text(LATE_GO_AT)


async def test_every_client_connects_once_sends_once_and_the_replies_come_in_order(
    timeline: Timeline, gates: Gates
) -> None:
    test = LoadTest(timeline, gates)
    replies = await run(test)
    wrong = [
        f"{c.name} connected {c.connects} time(s) and sent {c.sends} time(s)"
        for c in test.clients
        if (c.connects, c.sends) != (1, 1)
    ]
    if wrong:
        fail(
            f"{CALL}: {'; '.join(wrong)}.\nExpected: every client connects once and sends its "
            "one request once.\nTry: one task per client: connect, wait at the gate, send.\n\n"
            + timeline.draw()
        )
    if replies != REPLIES:
        fail(
            f"{CALL} returned {replies!r}, expected {REPLIES!r}: each client's reply, in the "
            "order of the clients.\nTry: keep the clients' tasks in a list, in client order, "
            "and return [task.result() for task in tasks] once they are all done."
        )


async def test_the_clients_connect_at_once_while_waiting_for_go(
    timeline: Timeline, gates: Gates
) -> None:
    test = LoadTest(timeline, gates)
    await run(test)
    go = timeline.span("go")
    connects = [timeline.span(f"{c.name} connect") for c in test.clients]
    after_go = [s.label for s in connects if s.start >= go.start]
    if after_go:
        fail(
            f"{CALL}: {listed(after_go)} started only at go ({test.at('go')}): burst "
            "waited for go before connecting. The wait for go is the time to connect in.\n"
            "Expected: every client connecting from the start, and waiting at the gate for go.\n"
            "Try: start a task per client (connect, then wait at the gate) BEFORE you "
            f"`await go()`.\n\n{timeline.draw()}"
        )
    first_end = min(s.end or 0.0 for s in connects)
    late = [s.label for s in connects if s.start >= first_end]
    if late:
        slowest, total = max(CONNECT.values()), sum(CONNECT.values())
        fail(
            f"{CALL}: {listed(late)} started only after another client had connected: "
            "the clients connected one after another.\nExpected: all three connecting at the "
            f"same time, ready by {scaled(slowest):.2f} s (the slowest), not by "
            f"{scaled(total):.2f} s (all of them added up).\n"
            "Try: connect inside each client's own task, not in a loop before the tasks "
            f"start.\n\n{timeline.draw()}"
        )


async def test_a_second_burst_holds_its_clients_until_its_own_go(
    timeline: Timeline, gates: Gates
) -> None:
    call = "a second burst([A, B, C], go), right after the first one"
    await run(LoadTest(timeline, gates, go_at=None), "the first burst([A, B, C], go)")
    timeline.mark("second burst")
    test = LoadTest(timeline, gates, go_at=None)
    await run(test, call)
    if any(c.sent_before_go for c in test.clients):
        fail(f"{test.sent_early(call)}\n\n{timeline.draw()}")


async def test_no_request_is_sent_before_go(timeline: Timeline, gates: Gates) -> None:
    test = LoadTest(timeline, gates)
    await run(test)
    early = [c.name for c in test.clients if c.sent_before_go]
    if timeline.find("go") is None:
        fail(
            f"{CALL} never awaited go(), and {listed(early) or 'the clients'} sent without "
            "a signal.\nExpected: every request sent only after go.\n"
            f"Try: {ONE_GATE}\n\n{timeline.draw()}"
        )
    if early:
        fail(f"{test.sent_early(CALL)}\n\n{timeline.draw()}")


async def test_a_client_waits_at_the_gate_without_polling(timeline: Timeline, gates: Gates) -> None:
    test = LoadTest(timeline, gates, go_at=SLOW_GO_AT)
    with started_tasks(count_wakeups=True) as started:
        await run(test, call_text(SLOW_GO_AT))
    # A client wakes once after connecting, once at go, once after sending, and up to twice
    # more per call (connect, send) under stress jitter: 3 + 2 x 2.
    started.expect_no_polling(
        most=7,
        what=f"{call_text(SLOW_GO_AT)}, where A waits {scaled(SLOW_GO_AT - 0.1):.2f} s at the gate",
        wait_on="the gate, `await gate.wait()` on one asyncio.Event",
        timeline=timeline,
    )


async def test_every_request_is_sent_the_moment_go_is_given(
    timeline: Timeline, gates: Gates
) -> None:
    test = LoadTest(timeline, gates, go_at=None)  # connecting takes no time; go a few turns later
    await run(test, call_text(None))
    late = [c for c in test.clients if c.sent_turn is not None and c.sent_turn >= TURNS]
    if not late:
        return
    go = timeline.span("go")
    sends = [timeline.span(f"{c.name} send") for c in test.clients]
    first_end = min(s.end or timeline.now() for s in sends)
    if any(s.start >= first_end for s in sends):
        mistake = "the requests were sent one after another (each waited for the previous reply)."
        advice = "let each client send from its own task, so that one set() releases them all."
    else:
        mistake = (
            "they did not wake up when the gate opened: something else woke them later (a "
            "timer), and every such check wakes the loop for nothing."
        )
        advice = (
            "`await gate.wait()` on an asyncio.Event: it sleeps without a timer and wakes every "
            "waiting client the moment gate.set() is called."
        )
    names = listed(
        [
            f"{c.name} (sent {timeline.span(f'{c.name} send').start - go.start:.3f} s after go)"
            for c in late
        ]
    )
    fail(
        f"{call_text(None)}: {TURNS} turns of the event loop after go, a fraction of a "
        f"millisecond, {names} had still not sent: {mistake}\n"
        "Expected: every request sent in the same instant, right after go.\n"
        f"Try: {advice}\n\n{timeline.draw()}"
    )


async def test_a_client_still_connecting_at_go_sends_as_soon_as_it_is_connected(
    timeline: Timeline, gates: Gates
) -> None:
    test = LoadTest(timeline, gates, go_at=LATE_GO_AT)
    await run(test, LATE_CALL)  # a client that never sends fails here, with the reason
    b_connected = test.client("B").connected_at or 0.0
    waited = [
        c.name
        for c in test.clients
        if c.name != "B" and timeline.span(f"{c.name} send").start >= b_connected
    ]
    if waited:
        fail(
            f"{LATE_CALL}: {' and '.join(waited)} sent only once B had connected "
            f"({timeline.drawn(b_connected):.2f} s), although the gate was open from go "
            f"({test.at('go')}): they waited for B.\n"
            "Likely mistake: doing it step by step for everyone (gather every connect, then "
            "await go, then gather every send), so each step waits for the slowest client.\n"
            "Expected: each client sends the moment it is connected AND the gate is open: A at "
            "go, C and B as soon as they are connected.\n"
            f"Try: {ONE_GATE}\n\n{timeline.draw()}"
        )


async def test_a_burst_cancelled_before_go_leaves_no_client_running(
    timeline: Timeline, gates: Gates
) -> None:
    await run(LoadTest(timeline, gates, go_at=None), call_text(None))  # one that works first
    test = LoadTest(timeline, gates, go_at=5.0)  # go never comes: the operator gives up first
    await cancel_midway(
        start_gate.burst(list(test.clients), test.go),
        after=0.2,
        what=f"{call_text(5.0)}",
        timeline=timeline,
    )


async def test_a_failing_go_leaves_no_client_waiting_at_the_gate(
    timeline: Timeline, gates: Gates
) -> None:
    lost = ConnectionError("the operator's console went away")
    test = LoadTest(timeline, gates, go_at=None, fails=lost)
    call = f"burst([A, B, C], go), where go() raises {lost!r} once the clients are connected,"
    ran = await left_running_after(
        start_gate.burst(list(test.clients), test.go),
        STUCK_AFTER,
        error=lost,
        what=call,
        module=start_gate,
        why="go() has failed, so nobody will open the gate, and nothing stops them now.",
        failed="go()'s error",
        expected="when go() fails, the clients are cancelled, and have stopped, before its "
        "error goes on up.",
        advice="start the clients in `async with asyncio.TaskGroup() as tg:` and await go() "
        "inside the block: its error cancels the clients, and the group waits for them.",
        timeline=timeline,
    )
    if ran.raised is lost:
        return
    if ran.timed_out:
        idle = [c.name for c in test.clients if c.connected_at is not None and not c.sends]
        fail(
            f"{call} was still running after {scaled(STUCK_AFTER):.1f} s: "
            f"{listed(idle) or 'no client'} had connected and never sent, since go() had "
            "failed and no gate would open for them, and burst was still waiting for them.\n"
            "Expected: go()'s error goes on up at once, once the clients are cancelled.\n"
            "Try: start the clients in `async with asyncio.TaskGroup() as tg:` and await go() "
            f"inside the block.\n\n{timeline.draw()}"
        )
    if ran.raised is not None:
        raise ran.raised
    fail(
        f"{call} returned {ran.returned!r}: go()'s error never reached its caller, who "
        "believes the burst was sent.\nExpected: burst raises that error (alone, or in the "
        f"ExceptionGroup of a TaskGroup).\n\n{timeline.draw()}"
    )


class Gates:
    """Every asyncio.Event made while a test runs, with what was done to it."""

    def __init__(self) -> None:
        self.made: list[Any] = []

    def module_level(self) -> list[str]:
        """Names of the Events that live at module level in start_gate (made once, at import)."""
        return [n for n, v in vars(start_gate).items() if isinstance(v, ORIGINAL_EVENT)]


@pytest.fixture(autouse=True)
def gates(monkeypatch: pytest.MonkeyPatch) -> Gates:
    watched = Gates()

    class Event(ORIGINAL_EVENT):
        def __init__(self) -> None:
            super().__init__()
            self.sets = self.clears = self.waits = 0
            watched.made.append(self)

        def set(self) -> None:
            self.sets += 1
            super().set()

        def clear(self) -> None:
            self.clears += 1
            super().clear()

        async def wait(self) -> Literal[True]:
            self.waits += 1
            return await super().wait()

    swap_in(monkeypatch, start_gate, asyncio, Event=Event)
    return watched


class OneSignal(Exception):
    """go() was awaited a second time: the operator gives one signal, not one per client."""


class NotConnected(Exception):
    """send() was called on a client that had not connected."""


class FakeClient:
    """A client on the timeline: `connect()` then `send()`, which needs the connection."""

    def __init__(self, test: LoadTest, name: str, delay: float) -> None:
        self.test, self.name, self.delay = test, name, delay
        self.connects = 0
        self.sends = 0
        self.connected_at: float | None = None  # when connect() returned
        self.connected = ORIGINAL_EVENT()  # the test's own, not one of burst's gates
        self.sent_before_go = False
        self.sent_turn: int | None = None  # loop turns after go when send() was called

    async def connect(self) -> None:
        self.connects += 1
        await self.test.timeline.work(f"{self.name} connect", self.delay)
        self.connected_at = self.test.timeline.now()
        self.connected.set()

    async def send(self) -> str:
        self.sends += 1
        if self.connected_at is None:
            self.test.mistake = (
                f"burst() called {self.name}.send() before {self.name}.connect() had returned: "
                "a request needs an open connection.\nTry: `await client.connect()` first, then "
                "wait at the gate, then `await client.send()`, in that order, in one coroutine."
            )
            raise NotConnected(self.test.mistake)
        if self.test.turns is None:
            self.sent_before_go = True
        else:
            self.sent_turn = self.test.turns
        reply = f"reply to {self.name}"
        return str(await self.test.timeline.work(f"{self.name} send", SEND, reply))


class LoadTest:
    """The fake clients, and the operator's go: one signal, `go_at` seconds after the start.

    After go, a chain of callbacks counts the turns of the event loop (`turns`), so a test can
    tell "woke up at once" from "noticed later" without a clock.
    """

    def __init__(
        self,
        timeline: Timeline,
        gates: Gates,
        go_at: float | None = GO_AT,
        fails: Exception | None = None,
    ) -> None:
        self.timeline = timeline
        self.gates = gates
        self.go_at = go_at  # None: connecting takes no time, and go comes a few turns after it
        self.fails = fails  # what go() raises when its time comes, instead of the signal
        delays = CONNECT if go_at is not None else dict.fromkeys(CONNECT, 0.0)
        self.clients = [FakeClient(self, name, delay) for name, delay in delays.items()]
        self.begin = timeline.now()
        self.go_calls = 0
        self.turns: int | None = None  # loop turns since go; None before go
        self.mistake = ""
        self.open_before = {n for n in gates.module_level() if getattr(start_gate, n).is_set()}

    async def go(self) -> None:
        self.go_calls += 1
        if self.go_calls > 1:
            self.mistake = (
                f"go() was awaited {self.go_calls} times: the operator gives ONE go signal, and "
                "a second `await go()` would wait for a second signal that never comes. It "
                "looks as if every client awaits go() itself.\nThat is what an Event is for: "
                f"one task hears the signal and opens the gate for all.\nTry: {ONE_GATE}"
            )
            raise OneSignal(self.mistake)
        if self.go_at is None:
            # Go once every client that began connecting is connected (at the gate, if the code
            # under test is right), and a few loop turns later: no clock involved.
            await loop_turns(GO_AFTER_TURNS)
            connecting = [c.connected.wait() for c in self.clients if c.connects]
            await asyncio.gather(*connecting)
            await loop_turns(GO_AFTER_TURNS)
        else:
            elapsed = self.timeline.now() - self.begin
            await asyncio.sleep(max(0.0, scaled(self.go_at) - elapsed))
        if self.fails is not None:
            self.timeline.mark("go() fails")
            raise self.fails
        self.timeline.mark("go")
        self.turns = 0
        asyncio.get_running_loop().call_soon(self._count_turn)

    def _count_turn(self) -> None:
        assert self.turns is not None
        self.turns += 1
        if self.turns < TURNS:
            asyncio.get_running_loop().call_soon(self._count_turn)

    def client(self, name: str) -> FakeClient:
        return next(c for c in self.clients if c.name == name)

    def over_by(self) -> float:
        """When a right answer is done: go (or the last connect), then one send."""
        if self.go_at is None:
            return scaled(SEND)
        return scaled(max(self.go_at, *CONNECT.values()) + SEND)

    def at(self, label: str) -> str:
        """When the call `label` started, as the drawing shows it."""
        return f"{self.timeline.drawn(self.timeline.span(label).start):.2f} s"

    def stuck(self, call: str) -> str:
        """Why burst() had not returned after STUCK_AFTER seconds, from what the clients did."""
        go = self.timeline.find("go")
        waiting = [c for c in self.clients if c.connected_at is not None and not c.sends]
        names = listed([c.name for c in waiting]) or "no client"
        made = self.gates.made
        if go is None:
            why = (
                "go() was never awaited (or never returned), so nobody could open the gate, "
                f"while {names} waited at it. Likely mistake: awaiting the clients (their "
                "tasks, or a gather of them) before `await go()`: they wait for the gate, the "
                "gate waits for go, go is never awaited: a deadlock.\nTry: start the clients as "
                "tasks, then `await go()` and open the gate, and only then wait for the clients "
                "(a TaskGroup waits for its tasks at the end of its `async with` block)."
            )
        elif waiting and all((c.connected_at or 0.0) > go.start for c in waiting):
            cleared = any(e.clears for e in made if e.sets)
            why = (
                f"{names} connected only after go ({self.at('go')}) and found the gate shut: "
                "they never sent.\n"
                + (
                    "Likely mistake: gate.clear() right after gate.set(): that releases only "
                    "the clients already waiting, and a latecomer waits for a go that has "
                    "passed.\n"
                    if cleared
                    else "Whatever opened the gate let through only the clients already "
                    "waiting, and a latecomer waits for a go that has passed.\n"
                )
                + "Try: call gate.set() and leave the gate open: a set Event lets every later "
                "`await gate.wait()` straight through."
            )
        elif waiting and any(e.sets for e in made) and len(made) > 1:
            why = (
                f"{names} connected, go came at {self.at('go')}, and they never sent: "
                f"{len(made)} Events were made, and set() was called on another Event than "
                "the one the clients wait on (an Event created inside each client's coroutine, "
                "say).\n"
                f"Try: {ONE_GATE}"
            )
        elif waiting:
            why = (
                f"{names} connected, go came at {self.at('go')}, and they never sent: the "
                "gate never opened for them"
                + (": gate.set() was never called.\n" if not any(e.sets for e in made) else ".\n")
                + f"Try: {ONE_GATE}"
            )
        else:
            why = (
                "something it awaits never finishes (a deadlock).\nTry: connect, wait at the "
                "gate and send in one task per client; await go() once, then set the gate."
            )
        return (
            f"{call} was still running after {scaled(STUCK_AFTER):.1f} s, although everything "
            f"is over by {self.over_by():.1f} s: {why}\n\n{self.timeline.draw()}"
        )

    def sent_early(self, call: str) -> str:
        """Why some clients sent before go, from what was done to the gates."""
        early = listed([c.name for c in self.clients if c.sent_before_go])
        seen = f"{call}: {early} sent before go"
        if self.open_before:
            name = sorted(self.open_before)[0]
            return (
                f"{seen}: the gate was open before this burst began. `{name}` is an "
                "asyncio.Event at module level, made once at import: an earlier burst set it, "
                "and it stays set, so every later burst's clients walk straight through.\n"
                "Expected: each burst holds its own clients until its own go.\n"
                "Try: create the Event inside burst(), so that every burst starts with a shut "
                "gate."
            )
        if any(e.sets for e in self.gates.made):
            return (
                f"{seen}: gate.set() was called before go() had returned.\n"
                f"Expected: every request sent after go, none before.\nTry: {ONE_GATE}"
            )
        return (
            f"{seen}: they did not wait at the gate.\n"
            f"Expected: every request sent after go, none before.\nTry: {ONE_GATE}"
        )


async def run(test: LoadTest, call: str = CALL) -> list[str]:
    """burst(clients, go), failing the test with an explanation if it misuses or hangs."""
    replies: list[str] = []
    stuck = False
    try:
        async with asyncio.timeout(scaled(STUCK_AFTER)):
            replies = await start_gate.burst(list(test.clients), test.go)
    except TimeoutError:
        stuck = True
    except Exception:
        if not test.mistake:
            raise
    # Failing outside `except` shows the explanation alone, not the exception it replaces.
    if stuck:
        fail(test.stuck(call))
    if test.mistake:
        fail(f"{test.mistake}\n\n{test.timeline.draw()}")
    return replies
