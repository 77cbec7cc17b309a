from __future__ import annotations

import asyncio
import gc
import inspect
import linecache
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import hang_report
import pytest
from hang_report import Frame, StuckTask
from harness import fail, listed, loop_turns, scaled, waiting_at

# Turns of the loop a scenario takes to hang for good: its tasks wait on each other, no clock.
TURNS = 10
# waits_for_cycle() reads a handful of names: it answers at once, or it goes round forever.
GIVE_UP = 1.0
AWAITS = (
    "Expected: `awaits` names what the task waits for: \"task 'NAME'\" for another task; else "
    'the asyncio call the program made ("asyncio.Lock.acquire", also for `async with lock:`, '
    '"asyncio.Event.wait", "asyncio.Queue.get", ...); else "a Future".'
)


async def test_a_lock_order_deadlock_shows_each_task_at_the_lock_it_waits_for() -> None:
    stock, ledger, both_in = asyncio.Lock(), asyncio.Lock(), asyncio.Barrier(2)
    story = (
        "task 'ship' held the stock lock and waited for the ledger lock, and task 'audit' "
        "held the ledger lock and waited for the stock lock"
    )
    async with hung() as scenario:
        ship = scenario.start("ship", ship_order(stock, ledger, both_in))
        audit = scenario.start("audit", audit_books(stock, ledger, both_in))
        report = await scenario.report()
        where = [(ship_order, "async with ledger:")]
        expect_stuck(report, ship, where, "asyncio.Lock.acquire", story)
        where = [(audit_books, "async with stock:")]
        expect_stuck(report, audit, where, "asyncio.Lock.acquire", story)


async def test_a_chain_of_helpers_is_reported_innermost_first() -> None:
    reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    story = (
        "task 'request' ran handle_request(), which awaited load_user(), which awaited "
        "fetch_row(), which awaited a database reply that never came"
    )
    async with hung() as scenario:
        request = scenario.start("request", handle_request(reply))
        report = await scenario.report()
        where = [
            (fetch_row, "await reply"),
            (load_user, "await fetch_row(reply)"),
            (handle_request, "await load_user(reply)"),
        ]
        expect_stuck(report, request, where, "a Future", story)


async def test_a_task_awaiting_another_task_names_that_task() -> None:
    paid = asyncio.Event()
    story = "task 'checkout' awaited task 'payment', which waited for an event never set"
    async with hung() as scenario:
        payment = scenario.start("payment", take_payment(paid))
        checkout = scenario.start("checkout", check_out(payment))
        report = await scenario.report()
        expect_stuck(report, checkout, [(check_out, "await payment")], "task 'payment'", story)
        where = [(take_payment, "await paid.wait()")]
        expect_stuck(report, payment, where, "asyncio.Event.wait", story)


async def test_a_lost_wake_up_shows_the_event_or_condition_it_waits_on() -> None:
    ready, notice = asyncio.Event(), asyncio.Condition()
    ready.set()  # before the starter clears it: its wake-up is lost
    async with notice:
        notice.notify()  # before the listener waits: nobody hears it
    story = "the wake-ups of task 'starter' and task 'listener' came before they waited"
    async with hung() as scenario:
        starter = scenario.start("starter", wait_until_ready(ready))
        listener = scenario.start("listener", wait_for_notice(notice))
        report = await scenario.report()
        where = [(wait_until_ready, "await ready.wait()")]
        expect_stuck(report, starter, where, "asyncio.Event.wait", story)
        where = [(wait_for_notice, "await notice.wait()")]
        expect_stuck(report, listener, where, "asyncio.Condition.wait", story)


async def test_a_consumer_nobody_feeds_waits_in_queue_get() -> None:
    orders: asyncio.Queue[str] = asyncio.Queue()
    story = "task 'packer' waited for orders on a queue that nobody fed"
    async with hung() as scenario:
        packer = scenario.start("packer", pack_orders(orders))
        report = await scenario.report()
        where = [(pack_orders, "await orders.get()")]
        expect_stuck(report, packer, where, "asyncio.Queue.get", story)


async def test_a_producer_whose_consumer_is_gone_waits_in_queue_join() -> None:
    orders: asyncio.Queue[str] = asyncio.Queue()
    story = "task 'shop' queued an order and waited for it to be packed, with no packer running"
    async with hung() as scenario:
        shop = scenario.start("shop", place_order(orders))
        report = await scenario.report()
        where = [(place_order, "await orders.join()")]
        expect_stuck(report, shop, where, "asyncio.Queue.join", story)


async def test_the_report_holds_every_pending_task_but_the_caller() -> None:
    finished = asyncio.create_task(asyncio.sleep(0), name="finished")
    cancelled = asyncio.create_task(asyncio.sleep(3600), name="cancelled")
    await loop_turns(1)
    cancelled.cancel()
    await asyncio.gather(finished, cancelled, return_exceptions=True)
    story = "task 'refresher' slept between two refreshes, and two tasks had ended before"
    async with hung() as scenario:
        refresher = scenario.start("refresher", refresh_cache({}))
        report = await scenario.report()
        caller = asyncio.current_task()
        assert caller is not None
        names = [stuck.name for stuck in report]
        pending = {t.get_name() for t in asyncio.all_tasks() if t is not caller}
        if caller.get_name() in names:
            fail(
                f"hang_report(), called while {story}, lists {caller.get_name()!r}: the task "
                "that called hang_report(). It is not waiting for anything: it is running, "
                "asking for the report.\n"
                "Expected: every pending task of the loop but the caller.\n"
                "Try: leave out `asyncio.current_task()`."
            )
        ended = [name for name in ("finished", "cancelled") if name in names]
        if ended or pending - set(names):
            fail(
                f"hang_report(), called while {story}, lists {sorted(names)}; the pending "
                f"tasks but the caller were {sorted(pending)}.\n"
                "Expected: every pending task of the loop but the caller, and no task that "
                "has ended (asyncio.all_tasks() lists the pending ones)."
            )
        where = [(refresh_cache, "await asyncio.sleep(3600)")]
        expect_stuck(report, refresher, where, "asyncio.sleep", story)


def test_format_report_prints_each_task_like_a_traceback_innermost_first() -> None:
    request = StuckTask("request", frames_at(REQUEST), "a Future")
    ship = StuckTask("ship", frames_at([(ship_order, "async with ledger:")]), "task 'audit'")
    text = hang_report.format_report([request, ship])
    expected = block_of(request) + block_of(ship)
    lines = [line for line in text.splitlines() if line.strip()]
    if lines == expected:
        return
    reversed_frames = StuckTask(request.name, request.frames[::-1], request.awaits)
    mistake = (
        "The frames of 'request' are printed in traceback order, most recent call last: "
        "fetch_row(), where the task is stuck, comes last. A hang report reads the other way: "
        "where the task waits first, then who called it.\n"
        "Try: print the frames in the order of `frames`, innermost first.\n"
        if block_of(reversed_frames) == lines[: len(block_of(request))]
        else ""
    )
    listing = "\n".join(expected)
    fail(
        f"format_report([StuckTask 'request' (3 frames), StuckTask 'ship' (1 frame)]) "
        f"returned:\n{text}\n"
        f"Expected (blank lines aside):\n{listing}\n"
        f"{mistake}"
        "Each block: `task 'NAME' awaits AWAITS`, then each frame innermost first, as a "
        'traceback prints one: `  File "FILE", line N, in FUNCTION` and the source line below.'
    )


@pytest.mark.stage(2)
def test_tasks_awaiting_each_other_in_a_ring_are_a_cycle() -> None:
    report = report_by_hand({"ship": "billing", "billing": "audit", "audit": "ship", "cache": None})
    cycle = cycle_within_a_second(report)
    expect_the_ring(report, cycle, ["ship", "billing", "audit"])


@pytest.mark.stage(2)
def test_a_chain_of_waits_that_ends_is_not_a_cycle() -> None:
    report = report_by_hand({"ship": "billing", "billing": "audit", "audit": None})
    cycle = cycle_within_a_second(report)
    if cycle == []:
        return
    fail(
        f"waits_for_cycle(report) returned {cycle}, for a report where {arrows(report)}.\n"
        "audit awaits no task: the waits stop there, a chain that ends, not a ring. None of "
        "these tasks waits, through the others, for itself.\n"
        "Expected: [], no cycle.\n"
        "Try: a cycle is found when the walk reaches a task it has passed before; a walk that "
        "reaches a task awaiting no task has found none."
    )


@pytest.mark.stage(2)
def test_a_task_waiting_on_a_ring_is_not_part_of_it() -> None:
    report = report_by_hand(
        {"checkout": "ship", "ship": "billing", "billing": "audit", "audit": "ship"}
    )
    cycle = cycle_within_a_second(report, lead_in="checkout")
    if "checkout" in cycle:
        fail(
            f"waits_for_cycle(report) returned {cycle}, for a report where {arrows(report)}.\n"
            "checkout awaits ship, but no task of the ring awaits checkout: it leads into the "
            "cycle, and is not part of it.\n"
            "Expected: ship, billing and audit, each awaiting the next.\n"
            "Try: when the walk reaches a task it passed before, keep only the part of the walk "
            "from that task on."
        )
    expect_the_ring(report, cycle, ["ship", "billing", "audit"])


@pytest.mark.stage(2)
def test_a_real_ring_of_two_tasks_is_found_in_the_report() -> None:
    report = in_a_loop_of_its_own(a_ring_of_two())
    names = {stuck.name: stuck.awaits for stuck in report}
    if names.get("auth") != "task 'users'" or names.get("users") != "task 'auth'":
        fail(
            "hang_report(), called while task 'auth' awaited task 'users' and task 'users' "
            f"awaited task 'auth', says: {names}.\n"
            "Expected: auth awaits \"task 'users'\" and users awaits \"task 'auth'\" (stage 1's "
            "tests say more)."
        )
    cycle = cycle_within_a_second(report)
    expect_the_ring(report, cycle, ["auth", "users"])


# The scenarios: a hung program's tasks, each stuck at one line of this file.


async def ship_order(stock: asyncio.Lock, ledger: asyncio.Lock, both_in: asyncio.Barrier) -> None:
    async with stock:
        await both_in.wait()  # each task holds its first lock now
        async with ledger:
            pass


async def audit_books(stock: asyncio.Lock, ledger: asyncio.Lock, both_in: asyncio.Barrier) -> None:
    async with ledger:
        await both_in.wait()
        async with stock:
            pass


async def handle_request(reply: asyncio.Future[str]) -> None:
    await load_user(reply)


async def load_user(reply: asyncio.Future[str]) -> None:
    await fetch_row(reply)


async def fetch_row(reply: asyncio.Future[str]) -> None:
    await reply  # the database's reply never comes


REQUEST = [
    (fetch_row, "await reply"),
    (load_user, "await fetch_row(reply)"),
    (handle_request, "await load_user(reply)"),
]


async def take_payment(paid: asyncio.Event) -> None:
    await paid.wait()


async def check_out(payment: asyncio.Task[None]) -> None:
    await payment


async def wait_until_ready(ready: asyncio.Event) -> None:
    ready.clear()  # forgets the set() that came before
    await ready.wait()


async def wait_for_notice(notice: asyncio.Condition) -> None:
    async with notice:
        await notice.wait()


async def pack_orders(orders: asyncio.Queue[str]) -> None:
    while True:
        await orders.get()
        orders.task_done()


async def place_order(orders: asyncio.Queue[str]) -> None:
    orders.put_nowait("order 1")
    await orders.join()  # until every order is packed


async def refresh_cache(cache: dict[str, str]) -> None:
    while True:
        cache.clear()  # the next reads fill it again, fresh
        await asyncio.sleep(3600)  # asleep until the next refresh: waiting, on purpose


async def wait_for_partner(partner: asyncio.Future[asyncio.Task[None]]) -> None:
    other = await partner  # the partner's task, once both are started
    await other


async def a_ring_of_two() -> list[StuckTask]:
    """Tasks 'auth' and 'users' awaiting each other; the report, once they are stuck."""
    loop = asyncio.get_running_loop()
    partners: dict[str, asyncio.Future[asyncio.Task[None]]] = {
        "auth": loop.create_future(),
        "users": loop.create_future(),
    }
    tasks = {
        name: asyncio.create_task(wait_for_partner(partners[name]), name=name) for name in partners
    }
    partners["auth"].set_result(tasks["users"])
    partners["users"].set_result(tasks["auth"])
    await loop_turns(TURNS)
    return hang_report.hang_report()


# Running the scenarios, and what the tests expect of the report.


class Scenario:
    """The tasks of a hung program, started by name; the report, once they are all stuck."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self.tasks.append(task)
        return task

    async def report(self) -> list[StuckTask]:
        await loop_turns(TURNS)
        assert not [t for t in self.tasks if t.done()], "the scenario ended instead of hanging"
        return hang_report.hang_report()


@asynccontextmanager
async def hung() -> AsyncIterator[Scenario]:
    """A scenario whose tasks are all cancelled at the end, whatever happened."""
    scenario = Scenario()
    try:
        yield scenario
    finally:
        for task in scenario.tasks:
            task.cancel()
        await asyncio.gather(*scenario.tasks, return_exceptions=True)


def expect_stuck(
    report: list[StuckTask],
    task: asyncio.Task[Any],
    where: list[tuple[Callable[..., Any], str]],
    awaits: str,
    story: str,
) -> None:
    """The report has `task`, at the lines `where` (innermost first), awaiting `awaits`."""
    __tracebackhide__ = True
    name, call = task.get_name(), f"hang_report(), called while {story},"
    found = [stuck for stuck in report if stuck.name == name]
    if not found:
        fail(
            f"{call} returned no StuckTask named {name!r}; it named "
            f"{sorted(stuck.name for stuck in report)}.\n"
            "Expected: a StuckTask for every pending task of the loop but the caller, named as "
            "task.get_name() names it."
        )
    stuck, expected = found[0], frames_at(where)
    if stuck.frames != expected:
        fail(
            f"{call} says task {name!r} is at:\n{frame_lines(stuck.frames)}\n"
            f"Expected, innermost first:\n{frame_lines(expected)}\n"
            + frames_mistake(stuck.frames, expected)
        )
    if stuck.awaits != awaits:
        chain, _ = waiting_at(task, sys.modules[__name__])
        fail(
            f"{call} says task {name!r} awaits {stuck.awaits!r}; expected {awaits!r}.\n"
            + awaits_mistake(name, stuck.awaits, awaits, chain)
            + AWAITS
        )


def frames_mistake(got: list[Frame], expected: list[Frame]) -> str:
    """The mistake the frames show, when they show one."""
    in_asyncio = [f for f in got if Path(str(f.file)).parent == Path(asyncio.__file__).parent]
    if in_asyncio:
        frame = in_asyncio[0]
        return (
            f"{frame.function}() in asyncio/{Path(frame.file).name} is asyncio's own code, "
            "not the program's: the reader cannot change it. What asyncio does there is named "
            "in `awaits`; `frames` lists the program's coroutines only.\n"
            "Try: leave out the coroutines of asyncio's modules (their frame's "
            "f_globals['__name__'] starts with 'asyncio.')."
        )
    if len(expected) > 1 and got == expected[::-1]:
        return (
            "These are the right frames, outermost first: frames[0] must be the line the task "
            f"is stuck at, in {expected[0].function}(), and its own coroutine, "
            f"{expected[-1].function}(), comes last.\n"
            "Try: reverse the chain you walked from the task's coroutine down."
        )
    if len(expected) > 1 and got == expected[-1:]:
        return (
            f"That is only the task's own coroutine, {expected[-1].function}(): the coroutines "
            f"it awaits, down to {expected[0].function}() where the task is stuck, are missing. "
            "(Task.get_stack() gives just that one frame for a suspended task: a suspended "
            "coroutine's frame has no f_back.)\n"
            "Try: walk the await chain: coroutine.cr_await is what the coroutine awaits; while "
            "that is a coroutine too, go on down."
        )
    first_lines = [Frame(f.function, f.file, def_line(f.function)) for f in expected]
    if got == first_lines:
        return (
            f"Line {got[0].line} is the first line of {got[0].function}(), where it is defined, "
            "not the line it waits at.\n"
            "Try: frame.f_lineno, the line a suspended frame is at (code.co_firstlineno is "
            "where the function starts)."
        )
    return ""


def awaits_mistake(name: str, got: str, expected: str, chain: list[str]) -> str:
    """The mistake `awaits` shows, when it shows one."""
    if got.startswith("<"):
        return (
            "That is its repr: it says what kind of object the task waits on, not which task "
            "or asyncio call: a reader cannot follow it.\n"
        )
    if expected.startswith("task '"):
        return (
            f"{name} awaits the task {expected[5:]} itself: a Task is a Future, and it is the "
            f"very future {name} sleeps on. Name it as the task it is, so that the reader can "
            "follow the wait to that task.\n"
        )
    inner = got.removeprefix("asyncio.")
    outer = expected.removeprefix("asyncio.")
    if outer in chain and inner in chain[chain.index(outer) + 1 :]:
        return (
            f"{got} is a call asyncio makes inside {expected}(), the call the program made: "
            "the program's code shows the outer one.\n"
            "Try: the first asyncio coroutine of the chain (outermost) whose name does not "
            "start with '_'.\n"
        )
    return ""


def frames_at(where: list[tuple[Callable[..., Any], str]]) -> list[Frame]:
    """The frames of coroutines of this file stuck at the lines holding these texts."""
    return [Frame(f.__name__, f.__code__.co_filename, line_of(f, text)) for f, text in where]


def line_of(function: Callable[..., Any], text: str) -> int:
    """The number of the line of `function`'s source that holds `text`."""
    lines, first = inspect.getsourcelines(function)
    return first + next(i for i, line in enumerate(lines) if text in line)


def def_line(function: str) -> int:
    """The first line of the function of that name in this file: its `async def`."""
    return int(globals()[function].__code__.co_firstlineno)


def frame_lines(frames: list[Frame]) -> str:
    """Frames a line each: `function() at file.py:N: source`."""
    if not frames:
        return "  (no frame)"
    return "\n".join(
        f"  {f.function}() at {Path(str(f.file)).name}:{f.line}: {source(f)}" for f in frames
    )


def source(frame: Frame) -> str:
    """The line of source a frame points at ("" if it points at none)."""
    if not isinstance(frame.line, int):
        return ""
    return linecache.getline(str(frame.file), frame.line).strip()


def block_of(stuck: StuckTask) -> list[str]:
    """The lines format_report() prints for one task."""
    lines = [f"task '{stuck.name}' awaits {stuck.awaits}"]
    for f in stuck.frames:
        lines.append(f'  File "{f.file}", line {f.line}, in {f.function}')
        lines.append(f"    {source(f)}")
    return lines


def report_by_hand(arrows: dict[str, str | None]) -> list[StuckTask]:
    """A report by hand: each task awaits the task named, or asyncio.Event.wait (None)."""
    return [
        StuckTask(name, [], f"task '{other}'" if other else "asyncio.Event.wait")
        for name, other in arrows.items()
    ]


def arrows(report: list[StuckTask]) -> str:
    """ "ship awaits billing, billing awaits audit and audit awaits asyncio.Event.wait"."""
    return listed(f"{stuck.name} awaits {awaited(stuck)}" for stuck in report)


def awaited(stuck: StuckTask) -> str:
    """The task it awaits ("billing" for "task 'billing'"), or its `awaits` as it is."""
    if stuck.awaits.startswith("task '"):
        return stuck.awaits.removeprefix("task '").removesuffix("'")
    return stuck.awaits


def expect_the_ring(report: list[StuckTask], cycle: list[str], ring: list[str]) -> None:
    """`cycle` is `ring` in its waiting order, starting at any of its tasks."""
    __tracebackhide__ = True
    turns = [ring[i:] + ring[:i] for i in range(len(ring))]
    if cycle in turns:
        return
    backwards = [turn[::-1] for turn in turns]
    fail(
        f"waits_for_cycle(report) returned {cycle}, for a report where {arrows(report)}.\n"
        f"Expected: {ring}, each task awaiting the next and the last awaiting the first "
        f"(starting at any of them: {' or '.join(map(str, turns[1:]))} will do too).\n"
        + (
            "These are the tasks of the ring in the reverse order: each awaits the one before "
            "it, not the one after.\n"
            if cycle in backwards and len(ring) > 2
            else ""
        )
        + "A task's arrow is its `awaits` when that is \"task 'NAME'\"."
    )


class GoesRoundForever(BaseException):
    """waits_for_cycle() ran longer than anything it reads could take."""


def cycle_within_a_second(report: list[StuckTask], lead_in: str = "") -> list[str]:
    """waits_for_cycle(report), stopped by an alarm if it has not returned after GIVE_UP s.
    `lead_in`: a task of the report that awaits a ring without being on it."""
    __tracebackhide__ = True
    try:
        with alarm_after(scaled(GIVE_UP)):
            return hang_report.waits_for_cycle(report)
    except GoesRoundForever:
        pass  # failed below, out of the except: the alarm is not the learner's error
    fail(
        f"waits_for_cycle(report) had not returned after {scaled(GIVE_UP):.2f} s, for a "
        f"report of {len(report)} tasks where {arrows(report)}: it goes round and round.\n"
        "Expected: an answer at once.\n"
        + (
            f"{lead_in} is not on the ring it awaits: a walk that starts at {lead_in} and goes "
            f"on until it is back at {lead_in} never ends.\n"
            if lead_in
            else ""
        )
        + "Try: keep every task the walk passes, and stop at the first one it meets again."
    )


@contextmanager
def alarm_after(seconds: float) -> Iterator[None]:
    """Raise GoesRoundForever in whatever runs after `seconds`; pytest-timeout's own alarm
    (which uses the same signal) is put back as it was."""
    if not hasattr(signal, "setitimer"):  # Windows: pytest-timeout stays the only guard
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise GoesRoundForever

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, stop)
    remaining, interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining:
            left = max(remaining - (time.monotonic() - started), 0.01)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def in_a_loop_of_its_own(main: Coroutine[Any, Any, list[StuckTask]]) -> list[StuckTask]:
    """Run `main` in an event loop of its own, then drop the loop with the tasks left stuck.

    A ring of tasks awaiting each other cannot be cancelled: task.cancel() cancels the future
    the task waits on, here the other task, which cancels the first, ... until RecursionError
    (Python 3.11 to 3.13). So the ring is dropped with its loop, quietly.
    """
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda loop, context: None)  # "Task was destroyed but it is pending"
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()
        gc.collect()  # the ring goes now, while the handler above keeps it quiet
