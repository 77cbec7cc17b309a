from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import Coroutine, Iterable, Iterator
from typing import Any

import cancellation
import pytest
from harness import Timeline, fail, scaled

ACQUIRE, JOB, RELEASE = 0.05, 0.05, 0.1  # seconds; the release awaits, so cleanup takes time
PATIENCE = 1.0  # how long a test waits for a cancelled task to end (it needs about RELEASE)
CALL = "worker(pool, endless_jobs)"
TRY_FINALLY = (
    "conn = await pool.acquire(), then the loop inside `try:` and `await pool.release(conn)` "
    "in its `finally:`"
)


async def test_the_worker_runs_its_jobs_on_one_connection_and_gives_it_back(
    timeline: Timeline,
) -> None:
    pool, jobs = FakePool(timeline), ["job 1", "job 2", "job 3"]
    call = f"worker(pool, {jobs})"
    await cancellation.worker(pool, jobs)
    assert len(pool.handed_out) == 1, (
        f"{call} acquired {len(pool.handed_out)} connection(s), expected 1: borrow one "
        "connection with `conn = await pool.acquire()` before the loop and run every job on it."
        f"\n\n{timeline.draw()}"
    )
    conn = pool.handed_out[0]
    assert conn.done == jobs, (
        f"{call} ran {conn.done} on {conn}, expected {jobs} in that order.\n"
        "Try: `for job in jobs: await conn.execute(job)`"
    )
    if pool.given_back == [conn]:
        return
    mistake = (
        "it returned without giving the connection back, so the connection is lost to the pool "
        "for good. A release only in `except asyncio.CancelledError:` misses the normal end."
        if not pool.given_back
        else "a connection given back twice may be handed to two users at once."
    )
    fail(
        f"{call} ran out of jobs and returned, with pool.release() called "
        f"{pool.given_back.count(conn)} time(s) for {conn}: {mistake}\n"
        "Expected: pool.release(conn) exactly once, however the worker ends: out of jobs, "
        f"a failed job, or cancelled.\nTry: {TRY_FINALLY}.\n\n{timeline.draw()}"
    )


async def test_a_cancelled_worker_gives_its_connection_back(timeline: Timeline) -> None:
    pool, jobs = FakePool(timeline), EndlessJobs()
    task = await start_worker(pool, jobs, pool.busy)
    await cancel_and_wait(task, jobs)
    if pool.handed_out and pool.given_back == pool.handed_out:
        return
    assert task.done(), (
        f"{CALL} was cancelled in the middle of a job and {ending(task)}, still holding its "
        "connection: it ignored cancellation.\nTry: let the CancelledError go on up, and give "
        f"the connection back in `finally:`.\n\n{timeline.draw()}"
    )
    fail(
        f"{CALL} was cancelled in the middle of a job and {ending(task)}, but it never gave "
        f"its connection back: pool.release() was not called for {pool.held}, so it is lost "
        "to the pool (cancel a few workers and the pool runs dry).\n"
        "Likely mistake: the release comes after the loop, and the CancelledError raised at "
        "`await conn.execute(job)` jumps straight past it.\n"
        "Expected: pool.release(conn) awaited on the way out, then the CancelledError going on "
        f"up.\nTry: {TRY_FINALLY}: `finally` runs on every way out, cancellation included.\n\n"
        f"{timeline.draw()}"
    )


async def test_a_cancelled_worker_ends_cancelled_instead_of_carrying_on(
    timeline: Timeline,
) -> None:
    pool, jobs = FakePool(timeline), EndlessJobs()
    task = await start_worker(pool, jobs, pool.busy)
    await cancel_and_wait(task, jobs)
    if task.cancelled():
        return
    if not task.done() or jobs.asked_after_cancel:
        still = (
            f"it asked for {jobs.asked_after_cancel} next, and ended only because the test "
            "ran out of jobs"
            if jobs.asked_after_cancel
            else ending(task)
        )
        what = (
            f"ignored cancellation: it caught the CancelledError and carried on ({still}). "
            "A worker that swallows CancelledError cannot be stopped.\n"
            "Likely mistake: a bare `except:` or `except BaseException:` around a job catches "
            "CancelledError too (`except Exception:` does not)."
        )
    elif task.exception() is not None:
        what = f"{ending(task)} instead of ending cancelled."
    else:
        what = (
            "returned normally: it caught the CancelledError (to clean up?) and did not re-raise "
            "it, so whoever cancelled it believes it finished its work. TaskGroup and "
            "asyncio.timeout rely on that CancelledError going on up."
        )
    fail(
        f"{CALL} was cancelled in the middle of a job and {what}\n"
        "Expected: the task ends cancelled (task.cancelled() is True) once its cleanup is done."
        "\nTry: clean up in `finally:`, which lets the CancelledError go on up by itself; if you "
        "catch `asyncio.CancelledError`, end that block with a bare `raise`.\n\n" + timeline.draw()
    )


async def test_a_failed_job_ends_the_worker_with_its_error_and_the_connection_goes_back(
    timeline: Timeline,
) -> None:
    pool, jobs = FakePool(timeline, failing="job 2"), ["job 1", "job 2", "job 3"]
    call = f"worker(pool, {jobs}), where job 2 raises JobFailed,"
    error: Exception | None = None
    try:
        await cancellation.worker(pool, jobs)
    except Exception as raised:
        error = raised
    ran = pool.handed_out[0].done if pool.handed_out else []
    if not isinstance(error, JobFailed):
        went_on = "ran job 3 after it and " if "job 3" in ran else ""
        ended = f"ended with {error!r}" if error is not None else "returned normally"
        fail(
            f"{call} {went_on}{ended}: the JobFailed of job 2 never reached whoever awaits "
            "the worker.\n"
            "Expected: a failed job ends the worker; its JobFailed goes on up once the "
            "connection is released (job 3 does not run).\n"
            "Try: no `try/except` around `await conn.execute(job)`: let the error leave the "
            f"loop, and release in `finally:`, which runs on that way out too.\n\n{timeline.draw()}"
        )
    conn = pool.handed_out[0]
    if pool.given_back == [conn]:
        return
    releases = pool.given_back.count(conn)
    lost = (
        "the connection is lost to the pool for good.\nA release after the loop, or in "
        "`except asyncio.CancelledError:`, is skipped when a job raises: the error jumps past "
        "both."
        if releases == 0
        else "a connection given back twice may be handed to two users at once."
    )
    fail(
        f"{call} ended with {error!r}, as it should, but pool.release() was called {releases} "
        f"time(s) for {conn}: {lost}\n"
        "Expected: pool.release(conn) awaited once on the way out, then JobFailed going on up."
        f"\nTry: {TRY_FINALLY}: `finally` runs on every way out, a failed job's included.\n\n"
        f"{timeline.draw()}"
    )


async def test_a_worker_cancelled_while_it_waits_for_a_connection_ends_cancelled(
    timeline: Timeline,
) -> None:
    pool, jobs = FakePool(timeline), EndlessJobs()
    task = await start_worker(pool, jobs, pool.acquiring)
    await cancel_and_wait(task, jobs)
    if task.cancelled() and not pool.given_back:
        return
    happened = f"{CALL} was cancelled while it waited in pool.acquire() and {ending(task)}"
    if task.done() and isinstance(task.exception(), NameError):
        mistake = (
            "Its `finally:` tried to release a connection it never got: with "
            "`conn = await pool.acquire()` inside the `try:`, a cancel during the acquire jumps "
            "to `finally` before `conn` exists."
        )
    elif pool.given_back:
        mistake = f"It released {pool.given_back}, a connection it never got."
    else:
        mistake = "A cancel during the acquire must end the worker like any other cancel."
    fail(
        f"{happened}.\n{mistake}\n"
        "Expected: the worker ends cancelled and releases nothing (it holds nothing).\n"
        "Try: acquire before `try:`; only a connection you hold needs releasing.\n\n"
        + timeline.draw()
    )


async def test_stop_returns_only_once_the_worker_has_given_its_connection_back(
    timeline: Timeline,
) -> None:
    pool, jobs = FakePool(timeline), EndlessJobs()
    task = await start_worker(pool, jobs, pool.busy)
    jobs.cancel_sent = True
    with contextlib.suppress(asyncio.CancelledError):  # the next test's concern
        await cancellation.stop(task)
    timeline.mark("stop(task) returned")
    if task.done() and not pool.held:
        return
    if task.done():
        fail(
            f"stop(task) waited for the worker, but the worker {ending(task)} without releasing "
            f"{pool.held}: that is worker()'s job. Make "
            "test_a_cancelled_worker_gives_its_connection_back pass first."
        )
    stage = (
        "its cleanup had started but not finished (pool.release() was still running)"
        if pool.releasing.done()
        else "it had not even received its CancelledError yet"
    )
    fail(
        f"stop(task) returned while the worker was still running: {stage}. stop() did not "
        "wait for the task to finish.\n"
        "task.cancel() only asks: the CancelledError is raised inside the task at its next "
        "await, and its `finally:` may await more (here pool.release() takes "
        f"{scaled(RELEASE):.1f} s). The caller of stop() believes the connection is back; it "
        "is not.\nExpected: when stop(task) returns, the task is done and the connection "
        "released.\nTry: after task.cancel(), `await task`: it waits for the cleanup, then "
        f"raises the task's CancelledError, which you catch.\n\n{timeline.draw()}"
    )


async def test_stop_returns_normally_to_its_caller(timeline: Timeline) -> None:
    pool, jobs = FakePool(timeline), EndlessJobs()
    task = await start_worker(pool, jobs, pool.busy)
    jobs.cancel_sent = True
    try:
        await cancellation.stop(task)
    except asyncio.CancelledError:
        escaped = True
    else:
        escaped = False
    if escaped:
        fail(
            "stop(task) raised CancelledError into its caller, although nobody cancelled the "
            "caller: only the worker was cancelled.\n"
            "Likely mistake: `task.cancel()` then a bare `await task`. Awaiting a cancelled "
            "task raises its CancelledError in you; uncaught, it ends your caller too, and the "
            "code after `await stop(task)` never runs.\n"
            "Expected: stop(task) returns None once the worker has finished.\n"
            "Try: catch asyncio.CancelledError around `await task` (but read the next test: "
            f"not when it is your own cancellation).\n\n{timeline.draw()}"
        )


async def test_stop_lets_a_cancellation_of_its_own_caller_through(timeline: Timeline) -> None:
    pool, jobs = FakePool(timeline), EndlessJobs()
    task = await start_worker(pool, jobs, pool.busy, watched=True)
    jobs.cancel_sent = True
    stopper = WatchedTask(cancellation.stop(task), name="stop(task)")
    await asyncio.wait({stopper, pool.releasing}, return_when=asyncio.FIRST_COMPLETED)
    if stopper.done():
        stopper.result()  # stop()'s own error, if it raised one
        fail(
            f"the worker {ending(task)} without starting to release its connection: that is "
            "worker()'s job. Make test_a_cancelled_worker_gives_its_connection_back pass first."
            if task.done()
            else "stop(task) returned before the worker had even started its cleanup, so there "
            "was nothing left to cancel: it did not wait for the task (see "
            "test_stop_returns_only_once_the_worker_has_given_its_connection_back)."
        )
    stopper.cancel()  # the caller of stop() is cancelled while stop() waits for the cleanup
    await asyncio.wait({stopper}, timeout=scaled(PATIENCE))
    await asyncio.wait({task}, timeout=scaled(PATIENCE))
    if stopper.cancelled():
        return
    if stopper.done() and stopper.exception() is None:
        what = (
            "returned normally: it swallowed its own cancellation. Whoever cancelled it (a "
            "TaskGroup whose other task failed, asyncio.timeout, a shutdown) counts on that "
            "CancelledError coming back; swallowed, the caller carries on as if nothing had "
            f"happened.\n{whose_error(task, stopper)}"
        )
    else:
        what = f"{ending(stopper)} instead of ending cancelled."
    fail(
        f"stop(task) was itself cancelled while it waited for the worker's cleanup, and {what}"
        "\nExpected: stop(task) ends cancelled.\n"
        "Try: in your `except asyncio.CancelledError:` block, `raise` again when "
        "asyncio.current_task().cancelling() is above 0 (Python 3.11+: the cancel requests "
        f"made to the current task, yours).\n\n{timeline.draw()}"
    )


async def test_stop_raises_the_error_of_a_worker_that_had_already_failed(
    timeline: Timeline,
) -> None:
    pool, jobs = FakePool(timeline, failing="job 2"), ["job 1", "job 2", "job 3"]
    task = WatchedTask(cancellation.worker(pool, jobs), name="worker")
    await asyncio.wait({task})
    if task.cancelled() or not isinstance(task.exception(), JobFailed):
        fail(
            f"worker(pool, {jobs}), where job 2 raises JobFailed, {ending(task)}: make "
            "test_a_failed_job_ends_the_worker_with_its_error_and_the_connection_goes_back "
            "pass first."
        )
    failed = task.exception()
    timeline.mark("stop(task)")
    call = f"stop(task) on a worker that had already ended with {failed!r}"
    try:
        await cancellation.stop(task)
    except JobFailed as error:
        if error is failed:
            return
        raise
    asked = task.asked
    if asked.get("done") is True:
        seen = (
            "It asked task.done(), which answered True, and returned: a worker that is over "
            "has nothing left to cancel, but how it ended still has to reach someone."
        )
    elif asked.get("cancel") is False:
        seen = (
            "It called task.cancel(), which answered False (the worker had already ended: "
            "there was nothing to cancel), then waited for the worker without raising what it "
            "ended with."
        )
    else:
        seen = "It returned without raising the worker's error."
    fail(
        f"{call} returned normally: the worker's error was lost. Whoever stops a worker is "
        f"the last one to hear how it ended; nobody else awaits that task.\n{seen}\n"
        "Expected: stop(task) raises the JobFailed the worker ended with (a worker that "
        "ended cancelled, or ran out of jobs, gives nothing to raise).\n"
        "Try: `await task` after task.cancel() (which does nothing to a finished task): "
        "awaiting a task that failed raises its error in you. Catch only "
        f"asyncio.CancelledError around it.\n\n{timeline.draw()}"
    )


def whose_error(worker: asyncio.Task[None], stopper: WatchedTask) -> str:
    """What stop() asked before it swallowed the CancelledError, and why that did not tell."""
    asked = worker.asked if isinstance(worker, WatchedTask) else {}
    if "cancelling" in stopper.asked:
        return (
            "It asked asyncio.current_task().cancelling(), which answered "
            f"{stopper.asked['cancelling']}, and still returned: above 0, the CancelledError is "
            "yours (your caller cancelled you), so it must go on up."
        )
    if "cancelled" in asked:
        return (
            f"It asked task.cancelled(), which answered {asked['cancelled']}: the worker "
            "did end cancelled, but task.cancelled() says how the worker ended, not who was "
            "cancelled. While stop() awaits the task, its own cancel is handed on to the task, "
            "so the worker ends cancelled either way."
        )
    return (
        "It caught the CancelledError without asking whose it was (neither "
        "asyncio.current_task().cancelling() nor task.cancelled() was called): the worker's, "
        "which you expect, or your own, which is not yours to keep. "
        "`contextlib.suppress(asyncio.CancelledError)` and `except asyncio.CancelledError: pass` "
        "around `await task` catch both alike."
    )


def moment() -> asyncio.Future[None]:
    """Something the code under test reaches; a test awaits it instead of racing the clock."""
    return asyncio.get_running_loop().create_future()


def reach(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class JobFailed(Exception):
    """What a failed job raises (the database refused it)."""


class FakeConnection:
    def __init__(self, pool: FakePool, number: int) -> None:
        self.pool = pool
        self.name = f"conn {number}"
        self.done: list[str] = []  # the jobs it ran to the end

    def __repr__(self) -> str:
        return self.name

    async def execute(self, job: str) -> None:
        reach(self.pool.busy)
        error = JobFailed(f"{job} failed: disk full") if job == self.pool.failing else None
        await self.pool.timeline.work(f"{self.name}: {job}", JOB, error=error)
        self.done.append(job)


class FakePool:
    """Hands out connections and takes them back, on the timeline.

    `acquiring`, `busy` and `releasing` are reached when an acquire, a job and a release start.
    A connection counts as given back once its release has finished.
    """

    def __init__(self, timeline: Timeline, failing: str = "") -> None:
        self.timeline = timeline
        self.failing = failing  # the job that raises JobFailed, if any
        self.handed_out: list[FakeConnection] = []
        self.given_back: list[object] = []
        self.acquiring, self.busy, self.releasing = moment(), moment(), moment()

    async def acquire(self) -> FakeConnection:
        reach(self.acquiring)
        await self.timeline.work("pool.acquire()", ACQUIRE)
        conn = FakeConnection(self, len(self.handed_out) + 1)
        self.handed_out.append(conn)
        return conn

    async def release(self, conn: object) -> None:
        reach(self.releasing)
        await self.timeline.work(f"pool.release({conn!r})", RELEASE)
        self.given_back.append(conn)

    @property
    def held(self) -> list[FakeConnection]:
        return [c for c in self.handed_out if c not in self.given_back]


class EndlessJobs:
    """job 1, job 2, ... for ever, until the worker is cancelled: then it hands out no more.

    A worker that ignores its cancellation runs dry instead of running for ever, and
    `asked_after_cancel` tells which job it asked for.
    """

    def __init__(self) -> None:
        self.cancel_sent = False
        self.asked_after_cancel = ""

    def __iter__(self) -> Iterator[str]:
        for n in itertools.count(1):
            if self.cancel_sent:
                self.asked_after_cancel = f"job {n}"
                return
            yield f"job {n}"


class WatchedTask(asyncio.Task[None]):
    """A task that notes what cancellation.py asks it: done(), cancel(), cancelled(), or
    cancelling() of itself."""

    def __init__(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        super().__init__(coro, name=name)
        self.asked: dict[str, object] = {}  # method -> what it answered the kata's code

    def _note(self, method: str, answer: object) -> None:
        if sys._getframe(2).f_globals.get("__name__") == cancellation.__name__:
            self.asked[method] = answer

    def done(self) -> bool:
        answer = super().done()
        self._note("done", answer)
        return answer

    def cancel(self, msg: Any | None = None) -> bool:
        answer = super().cancel(msg)
        self._note("cancel", answer)
        return answer

    def cancelled(self) -> bool:
        answer = super().cancelled()
        self._note("cancelled", answer)
        return answer

    def cancelling(self) -> int:
        answer = super().cancelling()
        self._note("cancelling", answer)
        return answer


async def start_worker(
    pool: FakePool, jobs: Iterable[str], until: asyncio.Future[None], watched: bool = False
) -> asyncio.Task[None]:
    """worker(pool, jobs) as a task, once it has reached `until` (a job or an acquire started)."""
    coro = cancellation.worker(pool, jobs)
    task = WatchedTask(coro, name="worker") if watched else asyncio.create_task(coro, name="worker")
    await asyncio.wait({task, until}, return_when=asyncio.FIRST_COMPLETED)
    if not until.done():
        task.result()  # the worker's own error, if it raised one
        fail(
            f"{CALL} returned at once, before it had run a single job; expected it to acquire "
            f"a connection and run the jobs until it is cancelled.\nTry: {TRY_FINALLY}."
        )
    return task


async def cancel_and_wait(task: asyncio.Task[None], jobs: EndlessJobs) -> None:
    """Cancel the task as a caller would, and give it PATIENCE seconds to end."""
    jobs.cancel_sent = True
    task.cancel()
    await asyncio.wait({task}, timeout=scaled(PATIENCE))
    if task.done() and not task.cancelled():
        task.exception()  # seen here, so it is not reported again as a lost error


def ending(task: asyncio.Task[Any]) -> str:
    """How the task ended, in words."""
    if not task.done():
        return f"was still running {scaled(PATIENCE):.1f} s later"
    if task.cancelled():
        return "ended cancelled"
    error = task.exception()
    if error is not None:
        return f"ended with {type(error).__name__}: {error}"
    return "returned normally"
