from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine, Iterator
from typing import Any

import gather_limited
import pytest
from harness import EARLY, Timeline, cancel_midway, fail, loop_turns, scaled

# Five coroutines, 'a' the slow one. Three at a time: b, c, d and e fit into the other two slots
# while 'a' runs, so all is done in 0.4 s; batches [a b c] then [d e] take 0.4 + 0.2 = 0.6 s.
UNEQUAL = {"a": 0.4, "b": 0.2, "c": 0.1, "d": 0.2, "e": 0.1}
# Two at a time: 'a' takes 0.2 s while 'b' and then 'c' run in the other slot. In stage 2 'b'
# fails at 0.1 s, and 'c' still takes its slot.
SHORT = {"a": 0.2, "b": 0.1, "c": 0.1}
# Two at a time: 'b' fails at 0.1 s while 'a' (0.4 s) runs; 'c' and 'd' still wait for a slot.
FAILING = {"a": 0.4, "b": 0.1, "c": 0.1, "d": 0.1}
BROKEN = "b"
# Thirty coroutines, five at a time. Not a hundred: made at once in asyncio's debug mode on a
# busy machine, a hundred tasks can block the loop past the guard's threshold (seen under eager
# tasks and uvloop), and that message would hide this one.
MANY, FEW = 30, 5
# A caller cancelled at 0.1 s, while 'a' and 'b' run in the two slots and 'c', 'd' wait.
LONG = {"a": 0.4, "b": 0.4, "c": 0.1, "d": 0.1}
MADE: list[list[Coroutine[Any, Any, Any]]] = []  # the coroutines each test made


async def test_the_results_come_back_in_the_order_of_the_coroutines(timeline: Timeline) -> None:
    coros = Coros(timeline, SHORT)
    results = await coros.gather(limit=2)
    expected = [f"result {name}" for name in SHORT]
    if results == expected:
        return
    fail(
        f"{coros.call(2)} returned {results}, expected {expected}: the results must follow the "
        "order of the coroutines, not the order in which they finished ('a' is the slowest, so "
        "'b' finishes first).\n"
        "Likely mistake: appending each result to a list as its coroutine completes (in the "
        "task itself, with asyncio.wait or as_completed).\n"
        "Try: keep the tasks in a list in the order of the coroutines, and read task.result() "
        "from that list once they are all done.\n\n" + timeline.draw()
    )


async def test_never_more_than_limit_coroutines_run_at_once(timeline: Timeline) -> None:
    coros = Coros(timeline, SHORT)
    await coros.gather(limit=2)
    peak = timeline.peak
    if peak <= 2:
        return
    mistake = (
        "That is one more than the limit: an off-by-one. Is each task created first and the "
        "slot taken only after it (the task is already running by then), or is the semaphore "
        "built with limit + 1?\n"
        "Try: `await slots.acquire()` BEFORE you create the task, with "
        "asyncio.Semaphore(limit)."
        if peak == 3
        else "Nothing held them back.\n"
        "Try: take a slot of one shared asyncio.Semaphore(limit) before you create each task, "
        "and give it back when that task ends."
    )
    fail(
        f"{coros.call(2)}: {peak} coroutines were running at the same time; expected at most "
        f"2.\n{mistake}\n\n{timeline.draw()}"
    )


async def test_limit_coroutines_do_run_at_once_not_one_at_a_time(timeline: Timeline) -> None:
    coros = Coros(timeline, SHORT)
    await coros.gather(limit=2)
    if timeline.peak >= 2:
        return
    fail(
        f"{coros.call(2)}: only {timeline.peak} coroutine was running at a time, although the "
        "limit allows 2: the coroutines ran one after another.\n"
        "Likely mistake: `await coro` for each coroutine in a `for` loop: the loop waits for "
        "each one to finish before it starts the next.\n"
        "Expected: 2 coroutines running together, the whole time.\n"
        "Try: run each coroutine as a task (asyncio.TaskGroup), and let the loop that creates "
        "the tasks wait only for a free slot.\n\n" + timeline.draw()
    )


async def test_the_next_coroutine_starts_as_soon_as_a_slot_frees_up(timeline: Timeline) -> None:
    coros = Coros(timeline, UNEQUAL)
    with timeline.expect_duration(
        0.4,
        delays=tuple(UNEQUAL.values()),
        what=f"{coros.call(3)}",
        too_slow="some coroutines waited for a whole batch to finish instead of a free slot.",
        advice="start the next coroutine the moment any running one ends, not when the whole "
        "batch of 3 is done: a batch waits for its slowest. While 'a' (0.4 s) runs, b, c, d "
        "and e fit into the other two slots, so all is done in 0.4 s; batches [a b c] then "
        "[d e] take 0.4 + 0.2 = 0.6 s. A semaphore of 3 slots, taken before each task is "
        "created and given back when it ends, gives you that sliding window.",
    ):
        await coros.gather(limit=3)


async def test_only_limit_tasks_exist_at_once_however_many_coroutines() -> None:
    others = len(asyncio.all_tasks())
    alive: list[int] = []

    async def job(number: int) -> int:
        alive.append(len(asyncio.all_tasks()) - others)  # the tasks gather_limited made
        await asyncio.sleep(0)
        return number

    results = await gather([job(n) for n in range(MANY)], FEW)
    call = f"gather_limited([job(0), job(1), ..., job({MANY - 1})], limit={FEW})"
    if results != list(range(MANY)):
        fail(
            f"{call} returned {results}, expected [0, 1, ..., {MANY - 1}]: every coroutine's "
            "result, in the order of the coroutines."
        )
    most = max(alive, default=0)
    if most <= FEW + 1:
        return
    fail(
        f"{call}: {most} tasks existed at the same time, expected at most {FEW} (one more for a "
        f"helper task of your own). Only {FEW} ran at once, but the others had all been created "
        f"as tasks up front, each one waiting for a slot: with 10,000 coroutines that is 10,000 "
        "tasks, their memory, and an event loop that goes through all of them.\n"
        "Likely mistake: asyncio.gather (or a TaskGroup) of every coroutine, each wrapped in "
        "`async with semaphore:`. The semaphore limits how many RUN, not how many tasks EXIST.\n"
        "Try: create each task only once a slot is free: `await slots.acquire()` in the loop "
        "that creates the tasks, and release the slot when the task ends."
    )


async def test_a_failure_cancels_the_running_coroutines_and_waits_for_them(
    timeline: Timeline,
) -> None:
    coros = Coros(timeline, FAILING, broken=BROKEN)
    await coros.failure(limit=2)
    slow = timeline.span("a")  # read at once: the moment gather_limited raised
    if slow.cancelled:
        return
    call = coros.call(2)
    if "a" in coros.closed_while_running:
        fail(
            f"{call} raised, and 'a' had been closed while its task was still running: "
            f"coro.close() ended it at {slow.end or 0:.2f} s (it throws GeneratorExit into the "
            f"coroutine), although 'a' needs {scaled(FAILING['a']):.2f} s, and its task had not "
            "stopped. If that task was cancelled, nothing waited for the cancellation to "
            "happen before the coroutines were closed.\n"
            "Expected: 'a' cancelled, and stopped, before gather_limited raises; close() only "
            "for the coroutines that never started (on a finished one it does nothing).\n"
            "Try: cancel the running tasks and await them (asyncio.gather(*tasks, "
            "return_exceptions=True)), or let an asyncio.TaskGroup do both; close the "
            f"coroutines after that.\n\n{timeline.draw()}"
        )
    if slow.end is not None:
        ran = slow.end - slow.start
        ended = (
            f"only after 'a' had run to its end ({slow.end:.2f} s)"
            if ran >= EARLY * scaled(FAILING["a"])
            else f"after 'a' had ended at {slow.end:.2f} s, neither cancelled nor finished"
        )
        fail(
            f"{call} raised {ended}: nothing cancelled it when {BROKEN} failed at 0.1 s.\n"
            "Expected: 'a' cancelled at once, its result is of no use any more.\n"
            "Try: run the tasks in an asyncio.TaskGroup: the first failure cancels the others."
            f"\n\n{timeline.draw()}"
        )
    await loop_turns(3)  # let a cancellation that was only requested happen
    if slow.cancelled:
        fail(
            f"{call} raised before 'a' had stopped: 'a' was cancelled but not waited for. "
            "task.cancel() only asks; the task stops later, at its next await, and any "
            "clean-up it does (closing a connection, ...) happens after the caller has moved "
            "on.\n"
            "Expected: by the time gather_limited raises, 'a' has stopped.\n"
            "Try: after cancelling, await the tasks (asyncio.wait or gather(..., "
            "return_exceptions=True)); an asyncio.TaskGroup does both for you.\n\n"
            + timeline.draw()
        )
    fail(
        f"{call} raised, and 'a' was still running: nothing cancelled it when {BROKEN} failed. "
        "It goes on behind the caller's back, its result lost and its errors unseen.\n"
        "Expected: 'a' cancelled, and stopped, before gather_limited raises.\n"
        "Try: run the tasks in an asyncio.TaskGroup: the first failure cancels the others and "
        f"waits for them.\n\n{timeline.draw()}"
    )


async def test_the_first_failure_is_raised_itself_at_about_its_time(timeline: Timeline) -> None:
    coros = Coros(timeline, FAILING, broken=BROKEN)
    with timeline.expect_duration(
        0.1,
        what=f"{coros.call(2)} (raising {BROKEN}'s error)",
        too_slow=f"{BROKEN}'s error reached the caller late: other coroutines were waited for "
        "(or run first) instead of being cancelled.",
        advice="raise as soon as one coroutine fails, and cancel the others instead of waiting "
        "for them: a TaskGroup does both.",
    ):
        error = await coros.failure(limit=2)
        if error is not coros.error:
            wrapped = isinstance(error, BaseExceptionGroup) and error.subgroup(
                lambda e: e is coros.error
            )
            fail(
                f"{coros.call(2)} raised {error!r}; expected {coros.error!r}, the very exception "
                f"{BROKEN} raised, so that the caller's `except ConnectionError:` catches it.\n"
                + (
                    "It came wrapped in an ExceptionGroup: that is what a TaskGroup raises, and "
                    "a plain `except ConnectionError:` does not catch it.\n"
                    "Try: `except* Exception as group:` around the TaskGroup, then "
                    "`raise group.exceptions[0] from None`."
                    if wrapped
                    else "Try: let the coroutine's own exception through, unchanged."
                )
                + f"\n\n{timeline.draw()}"
            )


async def test_a_failure_closes_the_coroutines_it_never_started(timeline: Timeline) -> None:
    coros = Coros(timeline, FAILING, broken=BROKEN)
    await coros.failure(limit=2)
    call = coros.call(2)
    unstarted = ["c", "d"]
    started = [name for name in unstarted if timeline.find(name) is not None]
    unclosed = coros.close_unstarted()
    if started:
        fail(
            f"{call}: {' and '.join(started)} started after {BROKEN} had failed: nothing new "
            "should start once a coroutine has failed.\n"
            "Likely mistake: the failed coroutine gave its slot back (`async with semaphore:`, "
            "or a release in `finally`), and a waiting one took it before the failure stopped "
            "everything.\n"
            "Expected: c and d never run.\n"
            "Try: give the slot back only when a coroutine succeeds: a failed one keeps it, so "
            "nothing else starts while the TaskGroup cancels the rest.\n\n" + timeline.draw()
        )
    if unclosed:
        fail(
            f"{call}: {' and '.join(unclosed)} never started, right, but were never closed "
            "either: a coroutine object that is dropped without running makes Python warn "
            '"coroutine ... was never awaited", a warning that hides real bugs.\n'
            "Expected: every coroutine that will not run is closed.\n"
            "Try: call coro.close() on each coroutine you did not start (in a `finally`, so a "
            "failure or a cancellation closes them too). close() on a coroutine that has "
            "finished does nothing.\n\n" + timeline.draw()
        )


async def test_a_cancelled_caller_stops_the_running_coroutines_and_closes_the_rest(
    timeline: Timeline,
) -> None:
    coros = Coros(timeline, LONG)
    call = coros.call(2)
    # Fails if the caller swallowed its cancellation, or if a task it started still runs.
    await cancel_midway(coros.gather(limit=2), after=0.1, what=call, timeline=timeline)
    unclosed = coros.close_unstarted()
    if unclosed:
        fail(
            f"{call} was cancelled after {scaled(0.1):.2f} s, while a and b ran: it stopped "
            f"them, right, but {' and '.join(unclosed)}, which never started, were left "
            "unclosed when the caller was cancelled. A coroutine object dropped without "
            "running makes Python warn when it is garbage collected.\n"
            "Expected: a cancelled caller closes the coroutines it will never run, as a "
            "failure does.\n"
            "Try: close them in a `finally:` around the whole call: `except Exception:` is "
            "not enough, since a CancelledError is not an Exception.\n\n" + timeline.draw()
        )


async def test_a_limit_below_one_is_refused_with_valueerror(timeline: Timeline) -> None:
    for limit in (0, -1):
        coros = Coros(timeline, {"a": 0.1, "b": 0.1})
        wait = scaled(0.5)
        hung, results = False, None
        try:
            async with asyncio.timeout(wait):
                results = await coros.gather(limit=limit)
        except ValueError:
            unclosed = coros.close_unstarted()
            if not unclosed:
                continue
            fail(
                f"{coros.call(limit)} raised ValueError, right, but left "
                f"{' and '.join(unclosed)} unclosed: a coroutine dropped without running makes "
                'Python warn "coroutine ... was never awaited".\n'
                "Try: close every coroutine you were given before you raise (coro.close())."
            )
        except TimeoutError:
            hung = True
        coros.close_unstarted()
        if hung:
            fail(
                f"{coros.call(limit)} was still waiting after {wait:.1f} s"
                + (
                    ": a Semaphore(0) has no free slot, so it waits for one forever (a silent "
                    "deadlock).\n"
                    if limit == 0
                    else ".\n"
                )
                + "Expected: ValueError, at once.\n"
                "Try: `if limit < 1: raise ValueError(...)` before you create the semaphore."
            )
        fail(
            f"{coros.call(limit)} returned {results!r}; expected ValueError: with a limit of "
            f"{limit} no coroutine may run, so the call cannot do its job.\n"
            + (
                "A limit of 0 was refused, but not this one: the check catches 0 only "
                "(`limit == 0`, `not limit`), and a negative limit is no more usable.\n"
                if limit < 0
                else ""
            )
            + "Try: `if limit < 1: raise ValueError(...)` before you create the semaphore."
        )


async def test_a_limit_of_one_is_legal_and_runs_them_one_at_a_time(timeline: Timeline) -> None:
    coros = Coros(timeline, {"a": 0.1, "b": 0.1})
    call = coros.call(1)
    try:
        results = await coros.gather(limit=1)
    except ValueError as error:
        refused = error
    else:
        expected = ["result a", "result b"]
        if results == expected and timeline.peak == 1:
            return
        fail(
            f"{call} returned {results!r} with {timeline.peak} coroutine(s) running at most at "
            f"once; expected {expected!r}, one coroutine at a time.\n\n{timeline.draw()}"
        )
    coros.close_unstarted()
    fail(
        f"{call} raised {refused!r}: a limit of 1 is legal, the smallest there is (one "
        "coroutine at a time); only a limit below 1 can run nothing.\n"
        "Likely mistake: an off-by-one in the check, `limit <= 1` where `limit < 1` belongs.\n"
        "Expected: ['result a', 'result b'], one after the other."
    )


async def test_any_iterable_of_coroutines_will_do_a_generator_too(timeline: Timeline) -> None:
    made: list[Coroutine[Any, Any, Any]] = []
    MADE.append(made)

    def generate() -> Iterator[Coroutine[Any, Any, Any]]:
        for name in "abc":
            made.append(fetch(timeline, name, 0.1, None, []))
            yield made[-1]

    call = "gather_limited((fetch(name) for name in 'abc'), limit=2), a generator"
    try:
        results = await gather_limited.gather_limited(generate(), 2)
    except NotImplementedError:
        close_unstarted(made)
        raise
    except TypeError as error:
        close_unstarted(made)
        fail(
            f"{call}, raised {error!r}: coros may be any iterable, and a generator has no "
            "len() and no indexes, and can be read only once.\n"
            "Expected: ['result a', 'result b', 'result c'].\n"
            "Try: read it into a list first, `coros = list(coros)`: coroutine objects are "
            "cheap, the tasks are what the limit is about."
        )
    expected = ["result a", "result b", "result c"]
    if results != expected:
        fail(f"{call}, returned {results!r}; expected {expected!r}.\n\n{timeline.draw()}")


async def test_no_coroutines_give_an_empty_list() -> None:
    results = await gather([], 3)
    if results != []:
        fail(f"gather_limited([], limit=3) returned {results!r}, expected [].")


@pytest.mark.stage(2)
async def test_return_exceptions_puts_each_error_in_the_place_of_its_coroutine(
    timeline: Timeline,
) -> None:
    coros = Coros(timeline, SHORT, broken=BROKEN)
    call = coros.call(2, ", return_exceptions=True")
    expected = ["result a", coros.error, "result c"]
    try:
        results = await coros.gather(limit=2, return_exceptions=True)
    except NotImplementedError:
        raise
    except Exception as error:
        raised = error
    else:
        if results == expected:
            return
        fail(
            f"{call} returned\n  {results!r}\nexpected\n  {expected!r}\n"
            f"Each coroutine's result, or the exception it raised, at its index: {BROKEN}'s "
            "error is the very exception object it raised, not a message or a copy, and the "
            "order is the order of the coroutines, not the order they finished in.\n"
            "Try: catch the exception where the coroutine is awaited, and return it as the "
            f"result of that task.\n\n{timeline.draw()}"
        )
    fail(
        f"{call} raised {raised!r} instead of returning it in the list.\n"
        f"Expected: {expected!r}, like asyncio.gather(..., return_exceptions=True).\n"
        "Try: in this mode, catch the exception where the coroutine is awaited and return it "
        f"as that task's result, so the TaskGroup never sees a failure.\n\n{timeline.draw()}"
    )


@pytest.mark.stage(2)
async def test_return_exceptions_cancels_nothing(timeline: Timeline) -> None:
    coros = Coros(timeline, SHORT, broken=BROKEN)
    try:
        await coros.gather(limit=2, return_exceptions=True)
    except NotImplementedError:
        raise
    except Exception:
        pass  # the first test of this stage explains that one
    cut_short = [s.label for s in timeline.spans if s.cancelled]
    never_ran = [name for name in SHORT if timeline.find(name) is None]
    coros.close_unstarted()
    if not cut_short and not never_ran:
        return
    fail(
        f"{coros.call(2, ', return_exceptions=True')}: "
        + (f"{', '.join(cut_short)} cancelled" if cut_short else "")
        + (" and " if cut_short and never_ran else "")
        + (f"{', '.join(never_ran)} never run" if never_ran else "")
        + f" after {BROKEN} failed. With return_exceptions=True one failure stops nothing: "
        "every coroutine runs to its end, and the error only takes its place in the list.\n"
        "Try: in this mode, catch the exception inside the task and return it, so that the "
        f"TaskGroup sees no failure and cancels nothing.\n\n{timeline.draw()}"
    )


@pytest.mark.stage(2)
async def test_return_exceptions_keeps_the_limit(timeline: Timeline) -> None:
    coros = Coros(timeline, SHORT, broken=BROKEN)
    try:
        await coros.gather(limit=2, return_exceptions=True)
    except NotImplementedError:
        raise
    except Exception:
        pass  # the first test of this stage explains that one
    coros.close_unstarted()
    if timeline.peak <= 2:
        return
    fail(
        f"{coros.call(2, ', return_exceptions=True')}: {timeline.peak} coroutines were running "
        "at the same time; expected at most 2: the limit holds in this mode too.\n"
        "Likely mistake: handing the coroutines to asyncio.gather(..., return_exceptions=True), "
        "which has no limit.\n"
        "Try: keep the same sliding window, and only catch each error inside its task.\n\n"
        + timeline.draw()
    )


@pytest.fixture(autouse=True)
def close_what_never_ran() -> Iterator[None]:
    """After each test, close its coroutines that never ran: a traceback kept by the timeline
    can hold them past the test's own check, and their warning would land in the next test."""
    yield
    for coros in MADE:
        close_unstarted(coros)
    MADE.clear()


def close_unstarted(coros: list[Coroutine[Any, Any, Any]]) -> list[int]:
    """Close the coroutines nothing started nor closed (so no warning follows); their indexes."""
    unstarted = [
        i for i, coro in enumerate(coros) if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
    ]
    for i in unstarted:
        coros[i].close()
    return unstarted


async def gather(coros: list[Coroutine[Any, Any, Any]], limit: int, **options: bool) -> list[Any]:
    """gather_limited(coros, limit); while it is not written, close the coroutines it was given."""
    MADE.append(coros)
    try:
        return await gather_limited.gather_limited(coros, limit, **options)
    except NotImplementedError:
        close_unstarted(coros)
        raise


async def fetch(
    timeline: Timeline, name: str, delay: float, error: Exception | None, closed: list[str]
) -> Any:
    """A fake coroutine: `delay` s of work on the timeline, returning "result <name>" (or
    raising `error`). It notes in `closed` if it was closed (coro.close()) while it ran."""
    try:
        return await timeline.work(name, delay, f"result {name}", error=error)
    except GeneratorExit:
        closed.append(name)
        raise


class Coros:
    """One fake coroutine per name, made up front: sleep the name's delay on the timeline and
    return "result <name>". The broken one raises `self.error` at the end of its delay."""

    def __init__(self, timeline: Timeline, delays: dict[str, float], broken: str = "") -> None:
        self.timeline = timeline
        self.delays = delays
        self.error = error = ConnectionError(f"{broken}: connection refused")
        self.closed_while_running: list[str] = []
        self.coros: list[Coroutine[Any, Any, Any]] = [
            fetch(
                timeline,
                name,
                delay,
                error if name == broken else None,
                self.closed_while_running,
            )
            for name, delay in delays.items()
        ]
        MADE.append(self.coros)
        self.names = list(delays)
        self.shown = ", ".join(
            f"{name} {delay} s" + (" fails" if name == broken else "")
            for name, delay in delays.items()
        )

    async def gather(self, limit: int, **options: bool) -> list[Any]:
        return await gather(self.coros, limit, **options)

    def call(self, limit: int, options: str = "") -> str:
        return f"gather_limited([{self.shown}], limit={limit}{options})"

    async def failure(self, limit: int) -> BaseException:
        """gather_limited with the broken coroutine: the error it raised (the test fails if it
        returned instead)."""
        try:
            results = await self.gather(limit)
        except NotImplementedError:
            raise
        except Exception as error:
            return error
        fail(
            f"{self.call(limit)} returned {results!r} instead of raising, although {BROKEN} "
            f"failed with {self.error!r}: the caller gets a result for a coroutine that failed.\n"
            "Expected: the error raised to the caller, the other coroutines cancelled.\n"
            "Try: run the tasks in an asyncio.TaskGroup: when one fails, it cancels the others "
            f"and raises.\n\n{self.timeline.draw()}"
        )

    def close_unstarted(self) -> list[str]:
        """Close the coroutines nothing started nor closed (so no warning follows); their names."""
        return [self.names[i] for i in close_unstarted(self.coros)]
