from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
import worker_pool
from harness import (
    Timeline,
    awaiting,
    cancel_midway,
    fail,
    scaled,
    started_tasks,
    still_running,
    swap_in,
)

# A stuck answer fails after STALL (1 s) with the await it is stuck in; pytest-timeout's
# backstop (2 s) is only for a loop that never gives control back.
pytestmark = pytest.mark.timeout(2)
STALL = 1.0

DELAY = 0.1  # every handle(item) takes 0.1 s
# Part 1: 5 items, 3 workers: two rounds, 0.2 s (one worker: 0.5 s; a task per item: 0.1 s).
ITEMS = list("abcde")
WORKERS = 3
CALL = f"process_all({ITEMS}, handle, workers={WORKERS})"
# Part 2: 6 items from a stream, 2 workers, a queue of 2: three rounds, 0.3 s.
STREAM = list("abcdef")
STREAM_WORKERS = 2
MAXSIZE = 2
STREAM_CALL = (
    f"produce_and_consume(<stream of {STREAM}>, handle, workers={STREAM_WORKERS}, "
    f"maxsize={MAXSIZE})"
)
# The order test: three workers on items of 0.3, 0.2 and 0.1 s finish them c, a, b: neither
# the order of the items (b, a, c) nor their sorted order (a, b, c).
FINISH = {"b": 0.3, "a": 0.2, "c": 0.1}
# The polling test: 4 items of 0.3 s, one worker, a queue of 1: the producer waits 0.6 s.
POLL_ITEMS = list("wxyz")
POLL_DELAY = 0.3
POLL_CALL = f"produce_and_consume(<stream of {POLL_ITEMS}>, handle, workers=1, maxsize=1)"
STOP_THE_WORKERS = (
    "after `await queue.join()`, cancel every worker, inside `async with asyncio.TaskGroup()` "
    "so that the group waits until they have stopped (or `await asyncio.gather(*workers, "
    "return_exceptions=True)` after cancelling them)."
)


ORIGINAL_QUEUE, ORIGINAL_GATHER = asyncio.Queue, asyncio.gather
# What happened to the queues and the items, in order: (what, item, task). what is "put",
# "got", "task_done" (item None), "handle" (a handle began) or "handled" (it ended, or raised).
EVENTS: list[tuple[str, Any, Any]] = []
GATHERED: list[Any] = []  # every asyncio.gather(..., return_exceptions=True) made
QUEUES: list[Any] = []  # every asyncio.Queue made


async def test_every_item_is_handled_exactly_once(timeline: Timeline) -> None:
    service = Service(timeline, ITEMS)
    before = asyncio.all_tasks()
    results = await finish(worker_pool.process_all(ITEMS, service.handle, WORKERS), CALL, service)
    expect_each_handled_once(service, results, CALL)
    expect_no_worker_left(before)  # the guard would fail the test too, without saying why


async def test_the_results_come_back_in_the_order_the_handles_finished(
    timeline: Timeline,
) -> None:
    items = list(FINISH)
    shown = ", ".join(f"{item!r} {scaled(delay):.1f} s" for item, delay in FINISH.items())
    for name in ("process_all", "produce_and_consume"):
        service = Service(timeline, items, delays=FINISH)
        if name == "process_all":
            call = f"process_all([{shown}], handle, workers=3)"
            work = worker_pool.process_all(items, service.handle, 3)
        else:
            call = f"produce_and_consume(<stream of [{shown}]>, handle, workers=3, maxsize=1)"
            work = worker_pool.produce_and_consume(service.stream(), service.handle, 3, 1)
        results = await finish(work, call, service)
        expected = [f"done {item}" for item in service.finish_order]
        if results == expected:
            continue
        if results == sorted(expected):
            seen = "Likely mistake: the results were sorted before they were returned.\n"
        elif results == [f"done {item}" for item in items]:
            seen = "Those are the results in the order of the items, not of the finishes.\n"
        else:
            seen = ""
        fail(
            f"{call} returned {results!r}, but the handles finished in the order "
            f"{', '.join(service.finish_order)}: expected {expected}, the results in the "
            "order they were finished.\n"
            f"{seen}"
            "Try: return the list the workers append to, as it is: each worker appends its "
            f"result the moment its handle returns.\n\n{timeline.draw()}"
        )


async def test_three_workers_handle_three_items_at_once(timeline: Timeline) -> None:
    service = Service(timeline, ITEMS)
    await finish(worker_pool.process_all(ITEMS, service.handle, WORKERS), CALL, service)
    peak = timeline.peak
    if peak == WORKERS:
        return
    if peak > WORKERS:
        mistake = (
            f"That is more than the {WORKERS} workers: something started a handle for every "
            "item at once (one task per item, asyncio.gather) instead of letting the workers "
            "take items from the queue.\n"
            "Try: create exactly `workers` worker tasks; each takes one item at a time from "
            "the queue."
        )
    else:
        mistake = (
            f"Only {peak} item(s) were handled at a time: fewer workers ran than the {WORKERS} "
            "asked for.\n"
            "Likely mistake: a single worker (or awaiting each worker before starting the "
            "next), so the items are handled one at a time, one after another.\n"
            "Try: start `workers` worker tasks on the same queue (a TaskGroup, one "
            "create_task per worker) before you wait for anything."
        )
    fail(
        f"{CALL}: {peak} handle calls were in flight at the same time; expected {WORKERS}, "
        f"one per worker.\n{mistake}\n\n{timeline.draw()}"
    )


async def test_five_items_three_workers_take_two_rounds(timeline: Timeline) -> None:
    service = Service(timeline, ITEMS)
    with timeline.expect_duration(
        2 * DELAY,
        delays=(DELAY,) * len(ITEMS),
        what=f"{CALL} (five items of 0.1 s)",
        advice="3 workers handle 3 items at once and each takes the next item as soon as it is "
        "free: 5 items need ceil(5 / 3) = 2 rounds of 0.1 s. Start all `workers` worker tasks "
        "before you wait for anything.",
        too_early="fewer than 2 rounds means more than 3 items were handled at once: only the "
        "`workers` worker tasks may call handle, one item each at a time.",
    ):
        await finish(worker_pool.process_all(ITEMS, service.handle, WORKERS), CALL, service)


async def test_no_worker_is_left_running_after_it_returns(timeline: Timeline) -> None:
    service = Service(timeline, ITEMS)
    before = asyncio.all_tasks()
    await finish(worker_pool.process_all(ITEMS, service.handle, WORKERS), CALL, service)
    expect_no_worker_left(before)


def expect_no_worker_left(before: set[asyncio.Task[Any]]) -> None:
    """Probe, right after process_all returned: no task it started is still running."""
    __tracebackhide__ = True
    left = still_running(before)
    if not left:
        return
    asked = [t for t in left if t.cancelling()]
    seen = (
        "They were cancelled, but process_all did not wait for them to stop: task.cancel() "
        "only asks, and a task stops at its next turn.\n"
        if asked
        else "Nothing stopped them: process_all returned after `await queue.join()` and never "
        "stopped them.\n"
    )
    fail(
        f"{CALL} returned, but {len(left)} task(s) it started are still running:\n"
        f"{describe(left)}\n"
        "A worker in `while True: await queue.get()` waits for the next item forever: it "
        f"would handle anything put later, behind the caller's back.\n{seen}"
        f"Try: {STOP_THE_WORKERS}"
    )


def where_the_error_went(tasks: list[asyncio.Task[Any]]) -> str:
    """What the run shows of the lost ServiceDown: handed back by a gather, or left in a task."""
    for future in GATHERED:
        results = future.result() if future.done() and not future.cancelled() else []
        if any(isinstance(r, ServiceDown) for r in results):
            return (
                "asyncio.gather(..., return_exceptions=True) handed the ServiceDown back as "
                "a value in its list of results, and nobody looked at that list."
            )
    for task in tasks:
        if task.done() and not task.cancelled() and isinstance(task.exception(), ServiceDown):
            return (
                f"The worker task {task.get_name()!r} ended with the ServiceDown, and nobody "
                "awaited it: a task's error stays inside it until someone awaits the task."
            )
    return "The ServiceDown was caught on its way and not raised again."


async def test_an_error_in_one_handle_stops_every_worker_and_propagates(
    timeline: Timeline,
) -> None:
    service = Service(timeline, ITEMS, failing="b")
    before = asyncio.all_tasks()
    try:
        with started_tasks() as started:
            results = await finish(
                worker_pool.process_all(ITEMS, service.handle, WORKERS), CALL, service
            )
    except NotImplementedError:
        raise
    except Exception as error:
        raised: Exception = error
    else:
        fail(
            f"{CALL} returned {results!r} although handle('b') raised ServiceDown: the error "
            f"was lost.\n{where_the_error_went(started.tasks)}\n"
            "Try: run the workers in `async with asyncio.TaskGroup()`: when one fails, the "
            "group cancels the others and raises its error.\n\n" + timeline.draw()
        )
    if isinstance(raised, ExceptionGroup):
        expected = raised.split(ServiceDown)[0] is not None
    else:
        expected = isinstance(raised, ServiceDown)
    if not expected:
        fail(
            f"{CALL} raised {raised!r}; expected the ServiceDown that handle('b') raised "
            "(alone, or inside an ExceptionGroup as a TaskGroup raises it)."
        )
    left = still_running(before)
    if left:
        fail(
            f"{CALL} raised ServiceDown, but {len(left)} task(s) it started are still "
            f"running:\n{describe(left)}\n"
            "Expected: when one handle fails, every worker is stopped before the error "
            "propagates.\n"
            "Try: run the workers in `async with asyncio.TaskGroup()`: when one fails, the "
            "group cancels the others and waits for them."
        )


async def test_every_item_of_a_stream_is_handled_exactly_once(timeline: Timeline) -> None:
    service = Service(timeline, STREAM)
    results = await finish(
        worker_pool.produce_and_consume(service.stream(), service.handle, STREAM_WORKERS, MAXSIZE),
        STREAM_CALL,
        service,
    )
    expect_each_handled_once(service, results, STREAM_CALL)


async def test_the_queue_never_holds_more_than_maxsize_items(timeline: Timeline) -> None:
    service = Service(timeline, STREAM)
    await finish(
        worker_pool.produce_and_consume(service.stream(), service.handle, STREAM_WORKERS, MAXSIZE),
        STREAM_CALL,
        service,
    )
    if service.most_ahead <= MAXSIZE:
        return
    fail(
        f"{STREAM_CALL}: the producer had taken up to {service.most_ahead} items from the "
        f"source that no worker had started yet; expected at most maxsize={MAXSIZE} waiting "
        "in the queue. It did not wait for the workers (no backpressure): with a fast source "
        "and slow workers, memory fills up with waiting items.\n"
        + (
            "Likely mistake: an unbounded queue: it was made without maxsize, and "
            "asyncio.Queue() (maxsize=0) never makes put() wait.\n"
            if any(q.maxsize <= 0 for q in QUEUES)
            else ""
        )
        + "Try: asyncio.Queue(maxsize), and `await queue.put(item)` one item at a time: put() "
        "waits while the queue is full.\n\n"
        f"{timeline.draw()}\n(| pull 'x': the producer took item x from the source)"
    )


async def test_six_items_two_workers_take_three_rounds(timeline: Timeline) -> None:
    service = Service(timeline, STREAM)
    with timeline.expect_duration(
        3 * DELAY,
        delays=(DELAY,) * len(STREAM),
        what=f"{STREAM_CALL} (six items of 0.1 s)",
        advice="2 workers handle 2 items at once while the producer keeps the queue filled: "
        "6 items need 3 rounds of 0.1 s. Start the workers, then put the items one by one.",
    ):
        await finish(
            worker_pool.produce_and_consume(
                service.stream(), service.handle, STREAM_WORKERS, MAXSIZE
            ),
            STREAM_CALL,
            service,
        )


async def test_the_producer_waits_for_room_without_polling(timeline: Timeline) -> None:
    service = Service(timeline, POLL_ITEMS, delay=POLL_DELAY)
    with started_tasks(count_wakeups=True) as started:
        await finish(
            worker_pool.produce_and_consume(service.stream(), service.handle, 1, 1),
            POLL_CALL,
            service,
            stall=1.5,  # the work takes 1.2 s
        )
    # The worker wakes once per item for its handle (and up to twice more under stress
    # jitter), once for an item it waits for, and once more to be stopped: 4 x 3 + 2.
    started.expect_no_polling(
        most=14,
        what=f"{POLL_CALL}, where the producer waits {scaled(2 * POLL_DELAY):.2f} s for room",
        wait_on="the queue: `await queue.put(item)` sleeps while the queue is full",
        timeline=timeline,
    )


async def test_a_cancelled_call_leaves_no_worker_running(timeline: Timeline) -> None:
    service = Service(timeline, ITEMS)
    await finish(worker_pool.process_all(ITEMS, service.handle, WORKERS), CALL, service)
    await cancel_midway(
        worker_pool.process_all(ITEMS, Service(timeline, ITEMS).handle, WORKERS),
        after=0.05,
        what=CALL,
        timeline=timeline,
    )
    stream = Service(timeline, STREAM)
    await cancel_midway(
        worker_pool.produce_and_consume(stream.stream(), stream.handle, STREAM_WORKERS, MAXSIZE),
        after=0.05,
        what=STREAM_CALL,
        timeline=timeline,
    )


class ServiceDown(Exception):
    """What the failing handle raises."""


@pytest.fixture(autouse=True)
def watch_queues(monkeypatch: pytest.MonkeyPatch) -> None:
    """Note every put, get and task_done on the asyncio.Queues the code makes, and every
    asyncio.gather told to return exceptions; both still do what they always do."""
    EVENTS.clear()
    GATHERED.clear()
    QUEUES.clear()

    class Queue(ORIGINAL_QUEUE):  # type: ignore[valid-type, misc]
        def __init__(self, maxsize: int = 0) -> None:
            super().__init__(maxsize)
            QUEUES.append(self)

        def put_nowait(self, item: Any) -> None:  # put() calls it too
            super().put_nowait(item)
            EVENTS.append(("put", item, _task()))

        def get_nowait(self) -> Any:  # get() calls it too
            item = super().get_nowait()
            EVENTS.append(("got", item, _task()))
            return item

        def task_done(self) -> None:
            EVENTS.append(("task_done", None, _task()))
            super().task_done()

    def gather(*awaitables: Any, return_exceptions: bool = False) -> Any:
        future = ORIGINAL_GATHER(*awaitables, return_exceptions=return_exceptions)
        if return_exceptions:
            GATHERED.append(future)
        return future

    swap_in(monkeypatch, worker_pool, asyncio, Queue=Queue, gather=gather)


def _task() -> Any:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def done_too_early() -> list[str]:
    """The items whose task_done() came before their handle had ended (in the worker that took
    them)."""
    taken: dict[Any, Any] = {}
    handled: set[Any] = set()
    early = []
    for what, item, task in EVENTS:
        if what == "got":
            taken[task] = item
        elif what == "handled":
            handled.add(item)
        elif what == "task_done" and taken.get(task) not in (None, *handled):
            early.append(taken.pop(task))
    return early


def count(what: str, item: Any = ...) -> int:
    return sum(1 for w, i, _ in EVENTS if w == what and (item is ... or i == item))


class Service:
    """The fake work on `items`: handle(item) takes 0.1 s (or its own delay) on the timeline,
    returns "done <item>".

    `calls` counts the handle calls per item. `stream()` yields the items as the producer's
    source and records how many it had handed out that no worker had started yet (`most_ahead`).
    """

    def __init__(
        self,
        timeline: Timeline,
        items: list[str],
        failing: str = "",
        delay: float = DELAY,
        delays: dict[str, float] | None = None,
    ) -> None:
        self.timeline = timeline
        self.items = items
        self.failing = failing
        self.delays = delays or dict.fromkeys(items, delay)  # seconds handle(item) takes
        self.calls: Counter[str] = Counter()
        self.finish_order: list[str] = []  # the items whose handle returned, in that order
        self.taken = 0
        self.most_ahead = 0

    async def handle(self, item: str) -> str:
        self.calls[item] += 1
        EVENTS.append(("handle", item, _task()))
        error = ServiceDown(f"handle({item!r}) failed") if item == self.failing else None
        try:
            done = await self.timeline.work(
                f"handle({item!r})", self.delays[item], f"done {item}", error=error
            )
        finally:
            EVENTS.append(("handled", item, _task()))
        self.finish_order.append(item)
        return str(done)

    async def stream(self) -> AsyncIterator[str]:
        for item in self.items:
            self.timeline.mark(f"pull {item!r}")
            yield item
            # The producer asks for the next item, so this one is in the queue (or handled).
            self.taken += 1
            self.most_ahead = max(self.most_ahead, self.taken - self.calls.total())


def _waits_in(task: asyncio.Task[Any]) -> set[str]:
    """The asyncio.Queue methods (get, put, join) this task is waiting in."""
    return {
        frame.f_code.co_name
        for _, frame in awaiting(task)
        if frame.f_globals.get("__name__") == "asyncio.queues"
    }


def _stuck(
    call: str, service: Service, main: asyncio.Task[Any], others: list[Any], stall: float
) -> str:
    handled = sum(1 for item in service.items if service.calls[item])
    head = (
        f"{call} was still waiting after {scaled(stall):.1f} s (its work takes well under "
        f"that; {handled} of the {len(service.items)} items had been handled): it waits for "
        "something that never happens.\n"
    )
    getting = sum("get" in _waits_in(t) for t in others)
    if "join" in _waits_in(main):
        done, put = count("task_done"), count("put")
        seen = (
            "no worker ever called queue.task_done()"
            if not done
            else f"queue.task_done() was called {done} times for {put} items put"
        )
        return head + (
            "It is stuck in `await queue.join()`. join() returns only once queue.task_done() "
            f"has been called once for every item put, and {seen}.\n"
            "Try: in the worker, call queue.task_done() after each item, in a `finally:` so it "
            "is called even when handle raises; and run the workers in a TaskGroup, so that a "
            "worker's error reaches you."
        )
    if any("put" in _waits_in(t) for t in [main, *others]):
        seen = "no worker task had been started yet" if not others else "none takes any out"
        return head + (
            f"It is stuck in `await queue.put(...)`: the queue is full (maxsize={MAXSIZE}) and "
            f"{seen}.\n"
            "Try: start the workers first (create their tasks), then put the items: each "
            "put() waits until a worker has made room."
        )
    if getting:
        sentinels = count("put", None)
        workers = len({task for what, _, task in EVENTS if what == "got"} | set(others))
        seen = (
            f"Likely mistake: {sentinels} sentinel(s) (None) were put for {workers} "
            "workers: each worker stops at the sentinel it takes, so the others wait on.\n"
            if sentinels
            else "No sentinel was put, and they were never cancelled.\n"
        )
        return head + (
            f"It waits for its workers to finish, but {getting} worker(s) still wait in "
            "`await queue.get()` for an item that never comes: a worker in "
            "`while True: await queue.get()` never stops on its own.\n"
            f"{seen}Try: {STOP_THE_WORKERS}"
        )
    return head + "Try: make sure every worker stops once the queue is empty and done."


async def finish(
    call: Coroutine[Any, Any, list[str]], what: str, service: Service, stall: float = STALL
) -> list[str]:
    """Await the call under test; if it is stuck past `stall`, fail saying where it waits."""
    before = asyncio.all_tasks()
    main = asyncio.create_task(call)
    done, _ = await asyncio.wait({main}, timeout=scaled(stall))
    if main in done:
        return main.result()
    others = [t for t in asyncio.all_tasks() - before if t is not main]
    message = _stuck(what, service, main, others, stall)
    main.cancel()
    await asyncio.wait({main}, timeout=scaled(0.5))
    fail(f"{message}\n\n{service.timeline.draw()}")


def describe(tasks: list[asyncio.Task[Any]]) -> str:
    """One line per task: its name, its coroutine, and whether it was asked to stop."""
    lines = []
    for t in tasks:
        code = getattr(t.get_coro(), "cr_code", None)
        asked = " (cancelled, but not yet stopped)" if t.cancelling() else ""
        lines.append(f"  - task {t.get_name()!r} running {code.co_name if code else '?'}(){asked}")
    return "\n".join(lines)


def expect_each_handled_once(service: Service, results: list[str], call: str) -> None:
    __tracebackhide__ = True
    items = service.items
    never = [item for item in items if not service.calls[item]]
    twice = [item for item in items if service.calls[item] > 1]
    early = done_too_early()
    cut = [s.label for s in service.timeline.spans if s.cancelled]
    if early:
        fail(
            f"{call}: queue.task_done() was called for {early}, each time before its handle "
            "had finished. queue.join() counts an item done at its task_done(), so join() returned "
            "while items were still being handled, and the workers were stopped mid-item"
            + (f" ({', '.join(cut)} cancelled)" if cut else "")
            + ".\nExpected: task_done() for an item once its handle has returned (or raised).\n"
            "Try: in the worker, `await handle(item)` inside `try:`, and queue.task_done() in "
            f"its `finally:`.\n\n{service.timeline.draw()}"
        )
    if never or twice:
        problems = [f"never handled {never}"] if never else []
        problems += [f"handled more than once {twice}"] if twice else []
        unput = [item for item in never if not count("put", item)]
        seen = (
            f"{unput} never went into the queue.\n"
            if unput
            else f"{never} went into the queue, but no worker took them out.\n"
            if never
            else ""
        )
        fail(
            f"{call}: {' and '.join(problems)}.\n{seen}"
            "Expected: handle(item) called exactly once for every item.\n"
            "Try: put each item once; let each worker handle what it takes from the queue, "
            "and stop the workers only after `await queue.join()`.\n\n" + service.timeline.draw()
        )
    expected = [f"done {item}" for item in items]
    if sorted(map(repr, results)) != sorted(map(repr, expected)):
        coroutines = any(inspect.iscoroutine(r) for r in results)
        fail(
            f"{call} returned {results!r}; expected one result per item, in any order: "
            f"{expected}.\n"
            + (
                "Some results are coroutines: handle(item) was stored, not awaited.\n"
                if coroutines
                else ""
            )
            + "Try: each worker appends `await handle(item)` to one results list that the "
            "function returns once every worker has stopped."
        )
