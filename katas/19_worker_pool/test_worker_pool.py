import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
import worker_pool
from harness import Timeline, scaled

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
STOP_THE_WORKERS = (
    "after `await queue.join()`, cancel every worker, inside `async with asyncio.TaskGroup()` "
    "so that the group waits until they have stopped (or `await asyncio.gather(*workers, "
    "return_exceptions=True)` after cancelling them)."
)


class ServiceDown(Exception):
    """What the failing handle raises."""


class Service:
    """The fake work on `items`: handle(item) takes 0.1 s on the timeline, returns "done <item>".

    `calls` counts the handle calls per item. `stream()` yields the items as the producer's
    source and records how many it had handed out that no worker had started yet (`most_ahead`).
    """

    def __init__(self, timeline: Timeline, items: list[str], failing: str = "") -> None:
        self.timeline = timeline
        self.items = items
        self.failing = failing
        self.calls: Counter[str] = Counter()
        self.taken = 0
        self.most_ahead = 0

    async def handle(self, item: str) -> str:
        self.calls[item] += 1
        error = ServiceDown(f"handle({item!r}) failed") if item == self.failing else None
        done = await self.timeline.work(f"handle({item!r})", DELAY, f"done {item}", error=error)
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
    found = set()
    awaited: Any = task.get_coro()
    while (frame := getattr(awaited, "cr_frame", None)) is not None:
        if frame.f_globals.get("__name__") == "asyncio.queues":
            found.add(frame.f_code.co_name)
        awaited = awaited.cr_await
    return found


def _stuck(call: str, service: Service, main: asyncio.Task[Any], others: list[Any]) -> str:
    handled = sum(1 for item in service.items if service.calls[item])
    head = (
        f"{call} was still waiting after {scaled(STALL):.1f} s (its work takes well under "
        f"0.5 s; {handled} of the {len(service.items)} items had been handled): it waits for "
        "something that never happens.\n"
    )
    getting = sum("get" in _waits_in(t) for t in others)
    if "join" in _waits_in(main):
        return head + (
            "It is stuck in `await queue.join()`. join() returns only once queue.task_done() "
            "has been called once for every item put, and it was called fewer times.\n"
            "Likely mistake: a worker that never calls queue.task_done() after an item, or "
            "a worker that died (handle raised) before calling it.\n"
            "Try: in the worker, call queue.task_done() after each item, in a `finally:` so it "
            "is called even when handle raises; and run the workers in a TaskGroup, so that a "
            "worker's error reaches you."
        )
    if any("put" in _waits_in(t) for t in [main, *others]):
        return head + (
            f"It is stuck in `await queue.put(...)`: the queue is full (maxsize={MAXSIZE}) and "
            "no worker takes items out of it.\n"
            "Likely mistake: putting the items before the workers are started: a bounded "
            "queue fills up and put() waits forever for a free slot.\n"
            "Try: start the workers first (create their tasks), then put the items: each "
            "put() waits until a worker has made room."
        )
    if getting:
        return head + (
            f"It waits for its workers to finish, but {getting} worker(s) still wait in "
            "`await queue.get()` for an item that never comes: a worker in "
            "`while True: await queue.get()` never stops on its own.\n"
            "Likely mistake: fewer sentinels than workers (each worker stops at the sentinel "
            "it takes, so put one sentinel per worker), or waiting for the workers before "
            "stopping them.\n"
            f"Try: {STOP_THE_WORKERS}"
        )
    return head + "Try: make sure every worker stops once the queue is empty and done."


async def finish(call: Coroutine[Any, Any, list[str]], what: str, service: Service) -> list[str]:
    """Await the call under test; if it is stuck past STALL, fail saying where it waits."""
    before = asyncio.all_tasks()
    main = asyncio.create_task(call)
    done, _ = await asyncio.wait({main}, timeout=scaled(STALL))
    if main in done:
        return main.result()
    others = [t for t in asyncio.all_tasks() - before if t is not main]
    message = _stuck(what, service, main, others)
    main.cancel()
    await asyncio.wait({main}, timeout=scaled(0.5))
    pytest.fail(f"{message}\n\n{service.timeline.draw()}", pytrace=False)


def still_running(before: set[asyncio.Task[Any]]) -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() - before if not t.done()]


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
    if never or twice:
        problems = [f"never handled {never}"] if never else []
        problems += [f"handled more than once {twice}"] if twice else []
        pytest.fail(
            f"{call}: {' and '.join(problems)}.\n"
            "Expected: handle(item) called exactly once for every item.\n"
            "Likely mistake: "
            + (
                "the workers were stopped while items were still waiting in the queue "
                "(cancelled before queue.join() returned, or a sentinel queued before the "
                "items), or the producer did not put every item. "
                if never
                else ""
            )
            + ("an item put into the queue twice, or handled twice. " if twice else "")
            + "\nTry: put each item once; let each worker handle what it takes from the queue, "
            "and stop the workers only after `await queue.join()`.\n\n" + service.timeline.draw(),
            pytrace=False,
        )
    expected = [f"done {item}" for item in items]
    if sorted(map(repr, results)) != sorted(map(repr, expected)):
        pytest.fail(
            f"{call} returned {results!r}; expected one result per item, in any order: "
            f"{expected}.\nLikely mistake: a result dropped, or a coroutine stored instead of "
            "its result.\nTry: each worker appends `await handle(item)` to one results list "
            "that the function returns once every worker has stopped.",
            pytrace=False,
        )


async def test_every_item_is_handled_exactly_once(timeline: Timeline) -> None:
    service = Service(timeline, ITEMS)
    results = await finish(worker_pool.process_all(ITEMS, service.handle, WORKERS), CALL, service)
    expect_each_handled_once(service, results, CALL)


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
    pytest.fail(
        f"{CALL}: {peak} handle calls were in flight at the same time; expected {WORKERS}, "
        f"one per worker.\n{mistake}\n\n{timeline.draw()}",
        pytrace=False,
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
    left = still_running(before)
    if not left:
        return
    pytest.fail(
        f"{CALL} returned, but {len(left)} task(s) it started are still running:\n"
        f"{describe(left)}\n"
        "A worker in `while True: await queue.get()` waits for the next item forever: it "
        "would handle anything put later, behind the caller's back.\n"
        "Likely mistake: returning after `await queue.join()` without stopping the workers, "
        "or cancelling them without waiting for them (task.cancel() only asks).\n"
        f"Try: {STOP_THE_WORKERS}",
        pytrace=False,
    )


async def test_an_error_in_one_handle_stops_every_worker_and_propagates(
    timeline: Timeline,
) -> None:
    service = Service(timeline, ITEMS, failing="b")
    before = asyncio.all_tasks()
    try:
        results = await finish(
            worker_pool.process_all(ITEMS, service.handle, WORKERS), CALL, service
        )
    except NotImplementedError:
        raise
    except Exception as error:
        raised: Exception = error
    else:
        pytest.fail(
            f"{CALL} returned {results!r} although handle('b') raised ServiceDown: the error "
            "was lost.\n"
            "Likely mistake: workers run as bare tasks (asyncio.create_task): a task's error "
            "stays inside it unless someone awaits the task.\n"
            "Try: run the workers in `async with asyncio.TaskGroup()`: when one fails, the "
            "group cancels the others and raises its error.\n\n" + timeline.draw(),
            pytrace=False,
        )
    if isinstance(raised, ExceptionGroup):
        expected = raised.split(ServiceDown)[0] is not None
    else:
        expected = isinstance(raised, ServiceDown)
    if not expected:
        pytest.fail(
            f"{CALL} raised {raised!r}; expected the ServiceDown that handle('b') raised "
            "(alone, or inside an ExceptionGroup as a TaskGroup raises it).",
            pytrace=False,
        )
    left = still_running(before)
    if left:
        pytest.fail(
            f"{CALL} raised ServiceDown, but {len(left)} task(s) it started are still "
            f"running:\n{describe(left)}\n"
            "Expected: when one handle fails, every worker is stopped before the error "
            "propagates.\n"
            "Try: run the workers in `async with asyncio.TaskGroup()`: when one fails, the "
            "group cancels the others and waits for them.",
            pytrace=False,
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
    pytest.fail(
        f"{STREAM_CALL}: the producer had taken up to {service.most_ahead} items from the "
        f"source that no worker had started yet; expected at most maxsize={MAXSIZE} waiting "
        "in the queue. It did not wait for the workers (no backpressure): with a fast source "
        "and slow workers, memory fills up with waiting items.\n"
        "Likely mistake: an unbounded queue: asyncio.Queue() without maxsize (or with "
        "maxsize=0) never makes put() wait. Or the whole source read into a list first.\n"
        "Try: asyncio.Queue(maxsize), and `await queue.put(item)` one item at a time: put() "
        "waits while the queue is full.\n\n"
        f"{timeline.draw()}\n(| pull 'x': the producer took item x from the source)",
        pytrace=False,
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
