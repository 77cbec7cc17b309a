import asyncio

import pytest
import start_gate
from harness import Timeline, scaled

# Every scenario is over within 0.5 s: a client stuck at a shut gate fails in 1 s, not 5.
pytestmark = pytest.mark.timeout(2)

CONNECT = {"A": 0.1, "B": 0.3, "C": 0.2}  # seconds each client takes to connect
SEND = 0.1  # every request takes 0.1 s
GO_AT = 0.4  # the operator's go, once every client has connected
LATE_GO_AT = 0.15  # go while C (until 0.2 s) and B (until 0.3 s) are still connecting
GO_AFTER_TURNS = 3  # the go of the test without a clock: a few loop turns after connecting
TURNS = 10  # every request must be sent within this many loop turns after go
STUCK_AFTER = 1.0  # no scenario needs more than 0.5 s: still running after 1 s means stuck
REPLIES = [f"reply to {name}" for name in CONNECT]
CALL = "burst([A connects in 0.1 s, B in 0.3 s, C in 0.2 s], go at 0.4 s)"
LATE_CALL = "burst([A connects in 0.1 s, B in 0.3 s, C in 0.2 s], go at 0.15 s)"
ONE_GATE = (
    "create ONE asyncio.Event in burst(); give every client a task that connects, then "
    "`await gate.wait()`, then sends; after `await go()`, call gate.set()."
)


class OneSignal(Exception):
    """go() was awaited a second time: the operator gives one signal, not one per client."""


class NotConnected(Exception):
    """send() was called on a client that had not connected."""


class FakeClient:
    """A client on the timeline: `connect()` then `send()`, which needs the connection."""

    def __init__(self, test: "LoadTest", name: str, delay: float) -> None:
        self.test, self.name, self.delay = test, name, delay
        self.connects = 0
        self.sends = 0
        self.connected_at: float | None = None  # when connect() returned
        self.connected = asyncio.Event()
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

    def __init__(self, timeline: Timeline, go_at: float | None = GO_AT) -> None:
        self.timeline = timeline
        self.go_at = go_at  # None: connecting takes no time, and go comes a few turns after it
        delays = CONNECT if go_at is not None else dict.fromkeys(CONNECT, 0.0)
        self.clients = [FakeClient(self, name, delay) for name, delay in delays.items()]
        self.begin = timeline.now()
        self.go_calls = 0
        self.turns: int | None = None  # loop turns since go; None before go
        self.mistake = ""

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
            for _ in range(GO_AFTER_TURNS):
                await asyncio.sleep(0)
            connecting = [c.connected.wait() for c in self.clients if c.connects]
            await asyncio.gather(*connecting)
            for _ in range(GO_AFTER_TURNS):
                await asyncio.sleep(0)
        else:
            elapsed = self.timeline.now() - self.begin
            await asyncio.sleep(max(0.0, scaled(self.go_at) - elapsed))
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

    def stuck(self, call: str) -> str:
        """Why burst() had not returned after STUCK_AFTER seconds, from what the clients did."""
        go = self.timeline.find("go")
        waiting = [c for c in self.clients if c.connected_at is not None and not c.sends]
        names = " and ".join(c.name for c in waiting) or "no client"
        if go is None:
            why = (
                "go() was never awaited (or never returned), so nobody could open the gate. "
                "Likely mistake: awaiting the clients (their tasks, or a gather of them) before "
                "`await go()`: they wait for the gate, the gate waits for go, go is never "
                "awaited: a deadlock.\nTry: start the clients as tasks, then `await go()` and "
                "open the gate, and only then wait for the clients (a TaskGroup waits for its "
                "tasks at the end of its `async with` block)."
            )
        elif waiting and all((c.connected_at or 0.0) > go.start for c in waiting):
            why = (
                f"{names} connected only after go ({go.start:.2f} s) and found the gate shut: "
                "they never sent.\nLikely mistake: gate.clear() right after gate.set() (or a "
                "one-shot wake-up such as Condition.notify_all()): that releases only the "
                "clients already waiting, and a latecomer waits for a go that has passed.\n"
                "Try: call gate.set() and leave the gate open: a set Event lets every later "
                "`await gate.wait()` straight through."
            )
        elif waiting:
            why = (
                f"{names} connected, go came at {go.start:.2f} s, and they never sent: the gate "
                "never opened for them.\nLikely mistake: set() called on another Event than "
                "the one the clients wait on (an Event created inside each client's coroutine, "
                "or one per client), or set() never called at all.\n"
                f"Try: {ONE_GATE}"
            )
        else:
            why = (
                "something it awaits never finishes (a deadlock).\nTry: connect, wait at the "
                "gate and send in one task per client; await go() once, then set the gate."
            )
        return (
            f"{call} was still running after {scaled(STUCK_AFTER):.1f} s, although everything "
            f"is over by {scaled(0.5):.1f} s: {why}\n\n{self.timeline.draw()}"
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
        pytest.fail(test.stuck(call), pytrace=False)
    if test.mistake:
        pytest.fail(f"{test.mistake}\n\n{test.timeline.draw()}", pytrace=False)
    return replies


async def test_every_client_connects_once_sends_once_and_the_replies_come_in_order(
    timeline: Timeline,
) -> None:
    test = LoadTest(timeline)
    replies = await run(test)
    wrong = [
        f"{c.name} connected {c.connects} time(s) and sent {c.sends} time(s)"
        for c in test.clients
        if (c.connects, c.sends) != (1, 1)
    ]
    assert not wrong, (
        f"{CALL}: {'; '.join(wrong)}.\nExpected: every client connects once and sends its one "
        "request once.\nTry: one task per client: connect, wait at the gate, send.\n\n"
        + timeline.draw()
    )
    assert replies == REPLIES, (
        f"{CALL} returned {replies!r}, expected {REPLIES!r}: each client's reply, in the order "
        "of the clients. Is a task or a coroutine returned instead of its result?"
    )


async def test_the_clients_connect_at_once_while_waiting_for_go(timeline: Timeline) -> None:
    test = LoadTest(timeline)
    await run(test)
    go = timeline.span("go")
    connects = [timeline.span(f"{c.name} connect") for c in test.clients]
    after_go = [s.label for s in connects if s.start >= go.start]
    if after_go:
        pytest.fail(
            f"{CALL}: {' and '.join(after_go)} started only at go ({go.start:.2f} s): burst "
            "waited for go before connecting. The wait for go is the time to connect in.\n"
            "Expected: every client connecting from the start, and waiting at the gate for go.\n"
            "Try: start a task per client (connect, then wait at the gate) BEFORE you "
            f"`await go()`.\n\n{timeline.draw()}",
            pytrace=False,
        )
    first_end = min(s.end or 0.0 for s in connects)
    late = [s.label for s in connects if s.start >= first_end]
    assert not late, (
        f"{CALL}: {' and '.join(late)} started only after another client had connected: the "
        "clients connected one after another.\nExpected: all three connecting at the same "
        "time, ready by 0.3 s (the slowest), not by 0.1 + 0.3 + 0.2 = 0.6 s.\n"
        "Try: connect inside each client's own task, not in a loop before the tasks start.\n\n"
        + timeline.draw()
    )


async def test_no_request_is_sent_before_go(timeline: Timeline) -> None:
    test = LoadTest(timeline)
    await run(test)
    early = [c.name for c in test.clients if c.sent_before_go]
    if timeline.find("go") is None:
        pytest.fail(
            f"{CALL} never awaited go(), and {' and '.join(early) or 'the clients'} sent without "
            "a signal.\nExpected: every request sent only after go.\n"
            f"Try: {ONE_GATE}\n\n{timeline.draw()}",
            pytrace=False,
        )
    assert not early, (
        f"{CALL}: {' and '.join(early)} sent before go ({timeline.span('go').start:.2f} s): "
        "they did not wait at the gate.\nLikely mistake: `gate.wait()` called without `await` "
        "(it only builds a coroutine), or the gate opened before `await go()` returned.\n"
        f"Expected: every request sent after go, none before.\nTry: {ONE_GATE}\n\n"
        + timeline.draw()
    )


async def test_every_request_is_sent_the_moment_go_is_given(timeline: Timeline) -> None:
    test = LoadTest(timeline, go_at=None)  # connecting takes no time; go a few loop turns later
    await run(test, "burst([A, B, C], go)")
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
            "they did not wake up when the gate opened.\nLikely mistake: polling, a loop that "
            "checks a flag (or gate.is_set()) and sleeps in between: a client notices go only "
            "at its next check, and every check wakes the loop for nothing."
        )
        advice = (
            "`await gate.wait()` on an asyncio.Event: it sleeps without a timer and wakes every "
            "waiting client the moment gate.set() is called."
        )
    names = " and ".join(
        f"{c.name} (sent {timeline.span(f'{c.name} send').start - go.start:.3f} s after go)"
        for c in late
    )
    pytest.fail(
        f"burst([A, B, C], go): {TURNS} turns of the event loop after go, a fraction of a "
        f"millisecond, {names} had still not sent: {mistake}\n"
        "Expected: every request sent in the same instant, right after go.\n"
        f"Try: {advice}\n\n{timeline.draw()}",
        pytrace=False,
    )


async def test_a_client_still_connecting_at_go_sends_as_soon_as_it_is_connected(
    timeline: Timeline,
) -> None:
    test = LoadTest(timeline, go_at=LATE_GO_AT)
    await run(test, LATE_CALL)  # a client that never sends fails here, with the reason
    b_connected = test.client("B").connected_at or 0.0
    waited = [
        c.name
        for c in test.clients
        if c.name != "B" and timeline.span(f"{c.name} send").start >= b_connected
    ]
    assert not waited, (
        f"{LATE_CALL}: {' and '.join(waited)} sent only once B had connected "
        f"({b_connected:.2f} s), although the gate was open from go "
        f"({timeline.span('go').start:.2f} s): they waited for B.\n"
        "Likely mistake: doing it step by step for everyone (gather every connect, then await "
        "go, then gather every send), so each step waits for the slowest client.\n"
        "Expected: each client sends the moment it is connected AND the gate is open: A at "
        "go, C and B as soon as they are connected.\n"
        f"Try: {ONE_GATE}\n\n{timeline.draw()}"
    )
