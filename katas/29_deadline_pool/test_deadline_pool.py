from __future__ import annotations

import asyncio
import contextlib
import inspect
import linecache
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import Any

import deadline_pool
import pytest
from harness import (
    Timeline,
    cancel_midway,
    fail,
    loop_turns,
    outcome,
    outcomes,
    raised,
    scaled,
    settle,
    started_tasks,
    still_running,
    waiting_at,
)

# A stuck pool fails after STALL (1 s), saying what it waits for; pytest-timeout's backstop
# (2 s) is only for a loop that never gives control back.
pytestmark = pytest.mark.timeout(2)
STALL = 1.0

WORKERS = 3
STEP = 0.1  # a short job
FIVE = list("abcde")  # five jobs of 0.1 s on three workers: two rounds, 0.2 s
SLOW, TIMEOUT = 0.5, 0.2  # a job needing 0.5 s, submitted with timeout=0.2
LONG = 0.4  # the jobs a cancelling shutdown interrupts (draining four on two workers: 0.8 s)
GRACE = 0.3  # stage 2: shutdown(grace=0.3)

Future = asyncio.Future[Any]
Job = Callable[[], Awaitable[str]]

SET_THE_FUTURE = (
    "each worker takes (job, timeout, future) from the queue and settles that future: "
    "`future.set_result(await job())`, or `future.set_exception(error)` when the job raises."
)
STOP_THE_WORKERS = (
    "cancel every worker task, then wait for them: `await asyncio.gather(*workers, "
    "return_exceptions=True)` (task.cancel() only asks)."
)


# The worker tasks each pool started in __aenter__, by id(pool): what a stalled shutdown reads.
WORKER_TASKS: dict[int, list[asyncio.Task[Any]]] = {}
STALLED: set[int] = set()  # the pools whose shutdown stalled: not shut down again


async def test_every_future_gets_the_result_of_its_job(timeline: Timeline) -> None:
    async with open_pool(timeline, WORKERS) as pool:
        futures = submitted({label: pool.submit(job(timeline, label)) for label in FIVE})
        await settle(futures.values(), within=2 * STEP + STALL)
        if all(outcome(futures[label]) == done(label) for label in FIVE):
            return
        fail(
            f"5 jobs submitted to JobPool({WORKERS}) (0.1 s each, returning '<label> done'); "
            f"{STALL} s after they should have ended, their futures were:\n"
            f"{job_outcomes(futures)}\n"
            "Expected: each future returns its own job's result, while the pool is still open "
            "(no shutdown needed).\n"
            f"Try: {SET_THE_FUTURE}\n\n{timeline.draw()}"
        )


async def test_three_workers_run_three_jobs_at_once_never_more(timeline: Timeline) -> None:
    async with open_pool(timeline, WORKERS) as pool:
        futures = submitted({label: pool.submit(job(timeline, label)) for label in FIVE})
        await settle(futures.values(), within=2 * STEP + STALL)
    peak = timeline.peak
    if peak == WORKERS:
        return
    if peak > WORKERS:
        mistake = (
            f"More than {WORKERS}: the pool did not hold the jobs back. Likely mistake: one "
            "task per job (asyncio.create_task in submit), so every job starts at once.\n"
            f"Try: start exactly `workers` worker tasks in __aenter__; each takes one job at a "
            "time from an asyncio.Queue that submit() fills."
        )
    else:
        mistake = (
            f"Fewer than {WORKERS}: the jobs waited for each other. Likely mistake: a single "
            "worker task (or workers that take turns), so the jobs ran one at a time.\n"
            f"Try: start `workers` worker tasks in __aenter__, all taking jobs from one queue."
        )
    fail(
        f"5 jobs of 0.1 s submitted at once to JobPool({WORKERS}): {peak} ran at the same "
        f"time; expected {WORKERS}, one per worker (never more: the limit is the pool's point, "
        f"{WORKERS} connections to a database, say).\n{mistake}\n\n{timeline.draw()}"
    )


async def test_leaving_the_block_waits_for_every_job(timeline: Timeline) -> None:
    call = f"`async with JobPool({WORKERS}) as pool:` submitting 5 jobs of 0.1 s, then leaving"
    futures: dict[str, Future] = {}

    async def use_the_pool() -> None:
        async with deadline_pool.JobPool(WORKERS) as pool:
            futures.update(submitted({label: pool.submit(job(timeline, label)) for label in FIVE}))

    with started_tasks() as started:

        def workers() -> list[asyncio.Task[Any]]:
            return [task for task in started.tasks if in_the_pool(task)]

        why = await stalled(use_the_pool(), scaled(2 * STEP + STALL), workers)
    if why is not None:
        await stop(workers())
        fail(
            f"{call}: leaving the block had not returned {STALL} s after the jobs should have "
            f"ended: the drain waits for something that never happens.\n{why}\n\n" + timeline.draw()
        )
    if all(outcome(futures[label]) == done(label) for label in FIVE):
        return
    cancelled = [label for label in FIVE if futures[label].cancelled()]
    mistake = (
        f"it cancelled jobs that were still running ({', '.join(cancelled)}): the drain "
        "stopped the workers as soon as the last job had STARTED (queue.empty() is true once "
        "every job has been taken), not once every job had finished"
        if cancelled
        else "it returned before every job had finished: the drain did not wait for them"
    )
    fail(
        f"{call}: {mistake}. When the block was left, the futures were:\n{job_outcomes(futures)}\n"
        "Expected: leaving the block (shutdown()) waits until every submitted job has finished, "
        "then stops the workers.\n"
        "Try: `await queue.join()`: it returns once task_done() has been called for every job "
        f"put, that is once every job has finished; then {STOP_THE_WORKERS}\n\n{timeline.draw()}"
    )


async def test_a_job_past_its_timeout_is_cancelled_and_its_future_raises_timeouterror(
    timeline: Timeline,
) -> None:
    call = (
        f"pool.submit(job 'slow' needing {SLOW} s, timeout={TIMEOUT}) on JobPool({WORKERS}), "
        "beside 'quick' (0.1 s) and 'steady' (0.3 s) without timeout"
    )
    async with open_pool(timeline, WORKERS) as pool:
        slow = pool.submit(job(timeline, "slow", SLOW), timeout=scaled(TIMEOUT))
        quick = pool.submit(job(timeline, "quick", 0.1))
        steady = pool.submit(job(timeline, "steady", 0.3))
        submitted({"slow": slow, "quick": quick, "steady": steady})
        others = {"quick": quick, "steady": steady}
        with timeline.expect_duration(
            TIMEOUT,
            what=f"waiting for the future of {call}",
            too_slow=f"the job was not stopped at its timeout ({TIMEOUT} s): its future got an "
            "outcome only when the job ended by itself, or never.",
            advice="in the worker, `async with asyncio.timeout(timeout):` around `await job()`: "
            "it cancels the job when time is up and raises TimeoutError in its place, which "
            "goes to the job's future.",
        ):
            await asyncio.wait([slow], timeout=scaled(SLOW + 0.2))
        if not raised(slow, TimeoutError):
            fail(
                f"{call}: the future of 'slow' {outcome(slow)}; expected it to raise "
                "TimeoutError.\n"
                + (
                    "A cancelled future means 'someone gave up on it'; a job past its timeout "
                    "is an error the caller can catch: TimeoutError, as asyncio.timeout raises.\n"
                    if slow.cancelled()
                    else ""
                )
                + f"\n{timeline.draw()}"
            )
        span = timeline.span("slow")
        if not span.cancelled:
            state = "still running" if span.end is None else f"ran to {span.end:.2f} s"
            fail(
                f"{call}: the future of 'slow' raised TimeoutError, but the job itself was "
                f"not cancelled ({state}): the timeout stopped the waiting, not the job, which "
                "goes on holding its worker (asyncio.wait(..., timeout=) and a bare "
                "wait_for on a shielded job do not cancel it).\n"
                "Expected: the job cancelled at its deadline.\n"
                "Try: `async with asyncio.timeout(timeout): result = await job()` in the "
                f"worker: at the deadline it cancels the job.\n\n{timeline.draw()}"
            )
        await settle(others.values(), within=0.3 + STALL)
        hurt = [label for label in others if outcome(others[label]) != done(label)]
        if hurt:
            fail(
                f"{call}: 'slow' timed out, and the other jobs suffered too:\n"
                f"{job_outcomes(others)}\n"
                "Expected: a timeout is per job: 'quick' and 'steady' run to their end and "
                "return their results.\n"
                "Try: the asyncio.timeout around that one job's `await job()`, not around "
                f"the worker's loop or the whole pool.\n\n{timeline.draw()}"
            )


async def test_the_timeout_counts_from_the_moment_the_job_starts(timeline: Timeline) -> None:
    call = (
        f"JobPool(1): job 'first' (0.2 s), then job 'slow' needing {SLOW} s submitted with "
        f"timeout={TIMEOUT}, which starts when 'first' ends"
    )
    async with open_pool(timeline, 1) as pool:
        first = pool.submit(job(timeline, "first", 0.2))
        slow = pool.submit(job(timeline, "slow", SLOW), timeout=scaled(TIMEOUT))
        futures = submitted({"first": first, "slow": slow})
        with timeline.expect_duration(
            0.2 + TIMEOUT,
            what=f"waiting for the future of 'slow' ({call})",
            too_early=f"its future raised TimeoutError before 'slow' had RUN {TIMEOUT} s: the "
            "deadline was counted from submit(), so the time the job spent waiting in the "
            "queue (0.2 s behind 'first') counted against it. A timeout limits the job's "
            "running time: start it when a worker starts the job, with "
            "`async with asyncio.timeout(timeout):` around `await job()` in the worker.",
            too_slow=f"the job was not stopped {TIMEOUT} s after it started.",
            advice="`async with asyncio.timeout(timeout):` around `await job()`, in the worker.",
        ):
            await asyncio.wait([slow], timeout=scaled(0.2 + SLOW + 0.2))
        if outcome(first) != done("first") or not raised(slow, TimeoutError):
            fail(
                f"{call}: the futures were:\n{job_outcomes(futures)}\n"
                "Expected: 'first' returns its result; 'slow' raises TimeoutError "
                f"{TIMEOUT} s after it started.\n\n{timeline.draw()}"
            )


async def test_a_failing_job_raises_on_its_future_and_the_worker_goes_on(
    timeline: Timeline,
) -> None:
    error = ServiceDown("the payment service is down")
    call = "JobPool(1): job 'broken' (raises ServiceDown after 0.1 s), then job 'next' (0.1 s)"
    async with open_pool(timeline, 1) as pool:
        broken = pool.submit(job(timeline, "broken", error=error))
        after = pool.submit(job(timeline, "next"))
        futures = submitted({"broken": broken, "next": after})
        await settle(futures.values(), within=2 * STEP + STALL)
        if raised(broken, ServiceDown) and outcome(after) == done("next"):
            return
        if timeline.find("next") is None:
            mistake = (
                "job 'next' never started: the pool's only worker died with the exception "
                "of 'broken' (it left the worker's loop), so no worker was left to take the "
                "next job, and its future waits forever.\n"
                "Likely mistake: the worker task dies when a job raises: nothing catches the "
                "job's exception between `await job()` and the worker's loop."
            )
        else:
            mistake = (
                "the exception of 'broken' did not reach its future: whoever awaits it "
                "never learns that the job failed."
            )
        fail(
            f"{call}: {STALL} s after both should have ended, the futures were:\n"
            f"{job_outcomes(futures)}\n{mistake}\n"
            "Expected: 'broken' raises ServiceDown on its future, and the same worker goes on "
            "with 'next'.\n"
            "Try: in the worker, `except Exception as error: future.set_exception(error)` "
            f"around `await job()`: the error belongs to the job's caller, not to the worker."
            f"\n\n{timeline.draw()}"
        )


async def test_a_job_whose_future_was_cancelled_while_queued_never_starts(
    timeline: Timeline,
) -> None:
    call = (
        "JobPool(1): jobs 'first', 'dropped' and 'next' (0.1 s each); the caller of 'dropped' "
        "cancels its future while 'first' runs"
    )
    async with open_pool(timeline, 1) as pool:
        futures = submitted(
            {label: pool.submit(job(timeline, label)) for label in ("first", "dropped", "next")}
        )
        futures["dropped"].cancel()  # its caller gives up
        await settle(futures.values(), within=2 * STEP + STALL)
        if timeline.find("dropped") is not None:
            fail(
                f"{call}: job 'dropped' ran although its caller had cancelled its future while "
                "it was queued: the worker spent its time on a result nobody will ever read.\n"
                "Expected: a job whose future is cancelled before a worker takes it never "
                "starts; the worker goes on with the next job.\n"
                "Try: when a worker takes a job, skip it if `future.cancelled()` (and still call "
                f"queue.task_done() for it).\n\n{timeline.draw()}"
            )
        if outcome(futures["next"]) != done("next"):
            fail(
                f"{call}: the futures were:\n{job_outcomes(futures)}\n"
                "Expected: 'first' and 'next' return their results; 'dropped' never starts."
                f"\n\n{timeline.draw()}"
            )


async def test_a_job_whose_future_was_cancelled_while_it_runs_does_not_stop_the_worker(
    timeline: Timeline,
) -> None:
    call = (
        "JobPool(1): job 'first' (0.2 s), then 'next' (0.1 s); the caller of 'first' cancels "
        "its future while 'first' runs"
    )
    async with open_pool(timeline, 1) as pool:
        futures = submitted(
            {
                "first": pool.submit(job(timeline, "first", 0.2)),
                "next": pool.submit(job(timeline, "next")),
            }
        )
        await until_running(timeline, 1, "JobPool(1) with job 'first' submitted")
        futures["first"].cancel()  # its caller gives up mid-job
        await settle([futures["next"]], within=0.2 + STEP + STALL)
        first = timeline.span("first")
        if outcome(futures["next"]) == done("next") and not first.cancelled:
            return
        if first.cancelled:
            fail(
                f"{call}: the pool cancelled job 'first' when its future was cancelled.\n"
                "Expected (this kata's contract): the pool does not watch the futures it "
                "hands out; a job already running runs to its end, and its outcome is "
                f"dropped.\n\n{timeline.draw()}"
            )
        workers = WORKER_TASKS.get(id(pool), [])
        died = [t.exception() for t in workers if t.done() and not t.cancelled() and t.exception()]
        fail(
            f"{call}: the future of 'next' {outcome(futures['next'])}.\n"
            + (
                f"The worker died with {died[0]!r} when 'first' ended: it called set_result() "
                "(or set_exception()) on the future of 'first', which its caller had cancelled, "
                "and a cancelled future cannot take a result.\n"
                "Try: settle the future only `if not future.done()`: a caller may give up at "
                "any time."
                if died and isinstance(died[0], asyncio.InvalidStateError)
                else "Expected: 'first' runs to its end, its result dropped, and the worker goes "
                "on with 'next'."
            )
            + f"\n\n{timeline.draw()}"
        )


async def cancel_with_jobs_running(
    timeline: Timeline, pool: deadline_pool.JobPool
) -> dict[str, Future]:
    """Submit jobs a-d (0.4 s each) to a pool of 2; once a and b run, shutdown(cancel_pending)."""
    futures = submitted({label: pool.submit(job(timeline, label, LONG)) for label in "abcd"})
    await until_running(timeline, 2, "JobPool(2) with jobs a, b, c and d submitted")
    await shut_down(pool, timeline, cancel_pending=True)
    return futures


CANCEL_CALL = (
    f"JobPool(2) running jobs a and b ({LONG} s each) with c and d queued: "
    "pool.shutdown(cancel_pending=True)"
)


async def test_a_cancelling_shutdown_cancels_the_queued_jobs_before_they_start(
    timeline: Timeline,
) -> None:
    async with open_pool(timeline, 2) as pool:
        futures = await cancel_with_jobs_running(timeline, pool)
        queued = {label: futures[label] for label in "cd"}
        started = [label for label in queued if timeline.find(label) is not None]
        if started:
            fail(
                f"{CANCEL_CALL}: queued job(s) {', '.join(started)} started after all.\n"
                "Expected: the queued jobs never start.\n"
                "Try: take every job left in the queue out of it (queue.get_nowait() until "
                f"queue.empty()) and cancel its future.\n\n{timeline.draw()}"
            )
        if not all(f.cancelled() for f in queued.values()):
            fail(
                f"{CANCEL_CALL}: the queued jobs c and d never started (right), but their "
                f"futures were:\n{job_outcomes(queued)}\n"
                "The shutdown left the futures of the queued jobs pending: whoever awaits them "
                "waits forever, for a job no worker will ever run.\n"
                "Expected: their futures cancelled.\n"
                "Try: take every job left in the queue out of it (queue.get_nowait() until "
                "queue.empty()), cancel its future, and call queue.task_done() for it.\n\n"
                + timeline.draw()
            )


async def test_a_cancelling_shutdown_cancels_the_running_jobs(timeline: Timeline) -> None:
    async with open_pool(timeline, 2) as pool:
        futures = await cancel_with_jobs_running(timeline, pool)
        running = {label: futures[label] for label in "ab"}
        spans = [timeline.span(label) for label in running]
        if any(span.end is None for span in spans):
            fail(
                f"{CANCEL_CALL} returned while jobs a and b were still running: their workers "
                "were not stopped, or not waited for.\n"
                "Expected: the running jobs cancelled, and shutdown returning once they have "
                f"stopped.\nTry: {STOP_THE_WORKERS}\n\n{timeline.draw()}"
            )
        if not all(span.cancelled for span in spans):
            fail(
                f"{CANCEL_CALL}: jobs a and b ran to their end ({LONG} s): the shutdown "
                "waited for them instead of cancelling them (ThreadPoolExecutor.shutdown("
                "cancel_futures=True) does that, because a thread cannot be cancelled; an "
                "asyncio task can).\n"
                "Expected: cancel_pending=True cancels the running jobs at once.\n"
                "Try: cancel the worker tasks: the CancelledError is raised inside the job "
                f"they are running.\n\n{timeline.draw()}"
            )
        if not all(f.cancelled() for f in running.values()):
            fail(
                f"{CANCEL_CALL}: jobs a and b were cancelled, but their futures were:\n"
                f"{job_outcomes(running)}\n"
                "Whoever awaits them must learn that the job was cancelled (a pending future "
                "keeps its caller waiting forever).\n"
                "Expected: their futures cancelled too.\n"
                "Try: in the worker, `except asyncio.CancelledError: future.cancel(); raise` "
                f"around `await job()`.\n\n{timeline.draw()}"
            )


async def test_a_cancelled_shutdown_still_stops_every_worker(timeline: Timeline) -> None:
    async with open_pool(timeline, 2) as pool:
        futures = submitted({label: pool.submit(job(timeline, label, LONG)) for label in "abcd"})
        await until_running(timeline, 2, "JobPool(2) with jobs a, b, c and d submitted")
        what = f"pool.shutdown() (a drain of jobs a-d, {LONG} s each, on JobPool(2))"
        # Fails if shutdown() swallowed its cancellation.
        await cancel_midway(pool.shutdown(), after=0.05, what=what, timeline=timeline)
        left = [task for task in WORKER_TASKS.get(id(pool), []) if not task.done()]
        if left:
            fail(
                f"{what} was cancelled mid-drain (a deadline of whoever shuts the service "
                f"down), and it left the workers running: {len(left)} worker task(s) still "
                "ran when its CancelledError went on, jobs a and b with them, and nobody is "
                "left to stop them.\n"
                "Expected: however the drain ends, shutdown() cancels what is queued and "
                "running and waits for the workers before it ends.\n"
                "Try: the cancelling part in a `finally:` around the drain "
                f"(`await queue.join()`).\n\n{timeline.draw()}"
            )
        pending = {label: f for label, f in futures.items() if not f.done()}
        if pending:
            fail(
                f"{what} was cancelled mid-drain; the workers stopped, but the futures were:\n"
                f"{job_outcomes(futures)}\n"
                "Expected: every job that did not finish ends with its future cancelled: a "
                f"pending future keeps its caller waiting for ever.\n\n{timeline.draw()}"
            )


async def test_no_worker_is_left_running_after_shutdown(timeline: Timeline) -> None:
    before = asyncio.all_tasks()
    for cancel_pending in (False, True):
        async with open_pool(timeline, WORKERS) as pool:
            submitted({label: pool.submit(job(timeline, label)) for label in "abc"})
            await shut_down(pool, timeline, cancel_pending)
            left = [
                f"task {t.get_name()!r} running {t.get_coro().__qualname__}()"
                for t in still_running(before)
            ]
            if left:
                fail(
                    f"JobPool({WORKERS}) with 3 jobs: pool.shutdown(cancel_pending="
                    f"{cancel_pending}) returned, but {len(left)} task(s) it started were "
                    "still running:\n  " + "\n  ".join(left) + "\n"
                    "A worker waiting in `await queue.get()` never stops on its own: it "
                    "would wait for jobs forever, behind the pool owner's back.\n"
                    "Likely mistake: returning after queue.join() without stopping the workers, "
                    "or cancelling them without waiting for them.\n"
                    f"Try: {STOP_THE_WORKERS}"
                )


async def test_submit_after_shutdown_raises_runtimeerror(timeline: Timeline) -> None:
    async with open_pool(timeline, 1) as pool:
        first = submitted({"first": pool.submit(job(timeline, "first"))})["first"]
        await shut_down(pool, timeline)
        if outcome(first) != done("first"):
            fail(
                f"JobPool(1) with job 'first' (0.1 s): pool.shutdown() returned, and the "
                f"future of 'first' was {outcome(first)}: shutdown() is a drain, it waits for "
                f"every submitted job.\nTry: `await queue.join()` before stopping the workers."
                f"\n\n{timeline.draw()}"
            )
        try:
            late = pool.submit(job(timeline, "late"))
        except RuntimeError:
            return
        if inspect.iscoroutine(late):
            late.close()
        fail(
            f"pool.submit(job) after pool.shutdown() returned {late!r} instead of raising "
            "RuntimeError: no worker is left to run that job, so whoever awaits its future "
            "waits forever.\n"
            "Try: shutdown() marks the pool closed first; submit() checks that flag and "
            "raises RuntimeError."
        )


async def test_submit_while_shutdown_drains_raises_runtimeerror(timeline: Timeline) -> None:
    call = "JobPool(1) running job 'first' (0.1 s): pool.shutdown() called, and while it drains"
    async with open_pool(timeline, 1) as pool:
        submitted({"first": pool.submit(job(timeline, "first"))})
        await until_running(timeline, 1, "JobPool(1) with job 'first' submitted")
        shutting = asyncio.create_task(pool.shutdown())
        await loop_turns(3)  # shutdown() has begun: it waits for 'first'
        try:
            late = pool.submit(job(timeline, "late"))
        except RuntimeError:
            late = None
        if late is not None and isinstance(late, asyncio.Future):
            submitted({"late": late})
        await settle([shutting], within=2 * STEP + STALL)
        if late is None:
            return
        if inspect.iscoroutine(late):
            late.close()
        fail(
            f"{call}, pool.submit(job 'late') returned a future instead of raising "
            f"RuntimeError; when the drain ended, that future {outcome(late)}.\n"
            "The drain took a new job: it waits for that one too, so a busy service that "
            "keeps submitting never finishes shutting down, and a submit() a moment later "
            "(once the workers are stopped) gets a future nobody will ever settle.\n"
            "Expected: RuntimeError from the moment shutdown() is called.\n"
            "Try: mark the pool closed first thing in shutdown(), before its first await.\n\n"
            + timeline.draw()
        )


async def test_a_second_shutdown_during_the_drain_waits_for_it(timeline: Timeline) -> None:
    call = (
        "JobPool(1) running job 'first' (0.1 s): pool.shutdown() called, and, while it "
        "drains, pool.shutdown() again"
    )
    async with open_pool(timeline, 1) as pool:
        submitted({"first": pool.submit(job(timeline, "first"))})
        await until_running(timeline, 1, "JobPool(1) with job 'first' submitted")
        first_call = asyncio.create_task(pool.shutdown())
        await loop_turns(3)  # the first shutdown() has begun: it waits for 'first'
        await shut_down(pool, timeline)  # the second call
        span = timeline.span("first")
        running, cancelled = span.end is None, span.cancelled  # as the second call returned
        left = [task for task in WORKER_TASKS.get(id(pool), []) if not task.done()]
        await settle([first_call], within=STEP + STALL)
        if not running and not cancelled and not left:
            return
        state = (
            "was still running"
            if running
            else "had been cancelled"
            if cancelled
            else "had run to its end"
        )
        fail(
            f"{call}: the second call returned while job 'first' {state}"
            + (f", with {len(left)} worker task(s) still running" if left else "")
            + ".\n"
            + (
                "The second shutdown() returned before the drain had ended: whoever calls it "
                "(a signal handler, then leaving `async with`) takes its return for 'the pool "
                "is stopped', and goes on to close what the job still uses.\n"
                if running
                else ""
            )
            + "Expected: a second shutdown() does nothing more, and returns only once the pool "
            "is shut down: it waits for the same drain ('first' runs to its end), and then no "
            "worker is left.\n"
            "Try: do not return early when the pool is closed already: wait as the first call "
            f"does (queue.join(), then the workers).\n\n{timeline.draw()}"
        )


# Stage 2: a grace period. Jobs a-e on two workers; b and d need 0.6 s.
#   a |#|              done at 0.1
#   b |############|   cancelled at 0.3
#   c   |#|            done at 0.2
#   d     |##########  cancelled at 0.3 (it started at 0.2)
#   e                  cancelled without ever starting
GRACE_JOBS = [("a", 0.1), ("b", 0.6), ("c", 0.1), ("d", 0.6), ("e", 0.1)]
GRACE_CALL = (
    f"JobPool(2) with jobs a 0.1, b 0.6, c 0.1, d 0.6, e 0.1 s: pool.shutdown(grace={GRACE})"
)


async def shut_down_with_grace(pool: deadline_pool.JobPool, timeline: Timeline, call: str) -> None:
    try:
        await pool.shutdown(grace=scaled(GRACE))
    except TimeoutError:
        pass  # failed below, outside `except`: one message, not a chain of exceptions
    else:
        return
    fail(
        f"{call} raised TimeoutError: the end of the grace period is not an error, it is "
        "when the shutdown stops waiting and cancels what is left.\n"
        "Likely mistake: asyncio.wait_for(queue.join(), grace) (or asyncio.timeout) "
        "raises TimeoutError, and nothing caught it, so nothing was cancelled either.\n"
        "Try: `with contextlib.suppress(TimeoutError): async with asyncio.timeout(grace): "
        "await queue.join()`, then cancel what is queued and running, as "
        f"cancel_pending=True does.\n\n{timeline.draw()}"
    )


@pytest.mark.stage(2)
async def test_a_grace_period_cancels_what_is_still_running_when_it_ends(
    timeline: Timeline,
) -> None:
    async with open_pool(timeline, 2) as pool:
        futures = submitted(
            {label: pool.submit(job(timeline, label, delay)) for label, delay in GRACE_JOBS}
        )
        with timeline.expect_duration(
            GRACE,
            what=GRACE_CALL,
            too_slow=f"it waited past its grace period ({GRACE} s) for jobs still running.",
            advice="wait for queue.join() under `asyncio.timeout(grace)`; when it expires, "
            "cancel the queued jobs and the workers, as cancel_pending=True does.",
        ):
            await shut_down_with_grace(pool, timeline, GRACE_CALL)
        cancelled = "ended cancelled (CancelledError)"
        expected = {"a": done("a"), "b": cancelled, "c": done("c"), "d": cancelled, "e": cancelled}
        got = {label: outcome(f) for label, f in futures.items()}
        b, d = timeline.find("b"), timeline.find("d")
        if got == expected and b and b.cancelled and d and d.cancelled and not timeline.find("e"):
            return
        fail(
            f"{GRACE_CALL}: the futures were:\n{job_outcomes(futures)}\n"
            "Expected: a and c (done within the grace period) returned their results; b and d "
            "(still running at 0.3 s) cancelled, jobs and futures; e (still queued) cancelled "
            "without ever starting.\n"
            "Try: after the grace period, do what shutdown(cancel_pending=True) does.\n\n"
            + timeline.draw()
        )


@pytest.mark.stage(2)
async def test_a_grace_period_is_not_waited_out_when_the_jobs_finish_sooner(
    timeline: Timeline,
) -> None:
    call = f"JobPool(2) with jobs a and b (0.1 s each): pool.shutdown(grace={GRACE})"
    async with open_pool(timeline, 2) as pool:
        futures = submitted({label: pool.submit(job(timeline, label)) for label in "ab"})
        with timeline.expect_duration(
            STEP,
            what=call,
            too_slow=f"it waited out its whole grace period ({GRACE} s) although every job had "
            f"finished at {STEP} s. The grace period is the most a shutdown may wait, not a "
            "sleep.",
            advice="wait for queue.join() under `asyncio.timeout(grace)`: it returns as soon "
            "as the jobs are done, and gives up when the grace period ends.",
        ):
            await shut_down_with_grace(pool, timeline, call)
        if [outcome(futures[x]) for x in "ab"] != [done("a"), done("b")]:
            fail(
                f"{call}: the futures were:\n{job_outcomes(futures)}\n"
                "Expected: both jobs finished within the grace period and returned their "
                f"results.\n\n{timeline.draw()}"
            )


@pytest.fixture(autouse=True)
def forget_the_pools() -> Iterator[None]:
    yield
    WORKER_TASKS.clear()
    STALLED.clear()


class ServiceDown(Exception):
    """What the failing job raises."""


def job(timeline: Timeline, label: str, delay: float = STEP, error: Exception | None = None) -> Job:
    """A fake job for submit(): `delay` s of work on the timeline, returning "<label> done"."""

    async def run() -> str:
        return str(await timeline.work(label, delay, f"{label} done", error=error))

    return run


def submitted(futures: Mapping[str, Any]) -> dict[str, Future]:
    """The futures submit() returned, checked to be futures (not coroutines, not results)."""
    __tracebackhide__ = True
    wrong = {label: f for label, f in futures.items() if not isinstance(f, asyncio.Future)}
    if not wrong:
        for future in futures.values():
            # The test is the caller: it looks at every outcome, even when it fails early.
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
        return dict(futures)
    for f in wrong.values():
        if inspect.iscoroutine(f):
            f.close()  # "never awaited" would only mislead: submit must not be awaited
    label, got = next(iter(wrong.items()))
    fail(
        f"pool.submit(job {label!r}) returned {got!r}; expected an asyncio.Future.\n"
        "submit() is a plain method (def, not async def): it queues the job and returns at "
        "once a future that a worker settles later; the caller awaits that future.\n"
        "Try: `future = asyncio.get_running_loop().create_future()`, queue it with the job, "
        "return it."
    )


def job_outcomes(futures: Mapping[str, Future]) -> str:
    return outcomes({f"future of job {label!r}": future for label, future in futures.items()})


def done(label: str) -> str:
    """The outcome of a job of this file that ran to its end."""
    return f"returned '{label} done'"


async def within(seconds: float, step: Awaitable[None]) -> bool:
    """Await `step`, `seconds` at most: True if it ended in time, False if it was cut short."""
    try:
        async with asyncio.timeout(seconds) as guard:
            await step
    except TimeoutError:
        if not guard.expired():
            raise  # a TimeoutError of the code under test
        return False
    return True


def in_the_pool(task: asyncio.Task[Any]) -> bool:
    """Whether the task runs a coroutine of the pool's code (a worker), not the test's."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_filename.endswith("deadline_pool.py")


async def stalled(
    step: Coroutine[Any, Any, None], seconds: float, workers: Callable[[], list[asyncio.Task[Any]]]
) -> str | None:
    """Run `step`, `seconds` at most. None if it ended (what it raised is raised); if it had
    not, why: read from the `workers` and from where it waits, before it is cancelled."""
    task = asyncio.create_task(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if done:
        task.result()
        return None
    diagnosis = why_stalled(
        workers(), waiting_at(task, deadline_pool)[1] or "an await outside deadline_pool.py"
    )
    task.cancel()
    await asyncio.wait({task}, timeout=scaled(0.5))
    return diagnosis


def why_stalled(workers: list[asyncio.Task[Any]], where: str) -> str:
    """Why a shutdown never returned, from what the run shows: the workers' state, and where
    the shutdown was waiting."""
    running = [task for task in workers if not task.done()]
    refused = [task for task in running if task.cancelling()]
    if refused:
        return (
            f"It was waiting at {where}. {len(refused)} worker task(s) had been cancelled, yet "
            "went on running: a worker caught the CancelledError and went back to its loop "
            "(an `except asyncio.CancelledError:` without `raise`, or an `except "
            "BaseException:`), so waiting for the workers never ends.\n"
            "Try: in the worker, `except asyncio.CancelledError: future.cancel(); raise`: "
            "deal with the job's future, then let the cancellation end the worker."
        )
    if "join()" in where:
        return (
            f"It was waiting at {where}: queue.join() returns once task_done() has been called "
            "once for every job put in the queue, and some never were.\n"
            "Try: call queue.task_done() once per job a worker takes, in a `finally:` (a job "
            "that fails or is cancelled counts too), and once per job you take out of the "
            "queue to cancel it."
        )
    if running:
        return (
            f"It was waiting at {where}, while {len(running)} worker task(s) were still "
            "running, never cancelled: an idle worker waits in `await queue.get()` for ever.\n"
            f"Try: {STOP_THE_WORKERS}"
        )
    return f"It was waiting at {where}, though every worker had ended."


async def stop(workers: list[asyncio.Task[Any]]) -> None:
    """Stop workers that a stalled shutdown left running (some may refuse a first cancel)."""
    for _ in range(3):
        running = [task for task in workers if not task.done()]
        if not running:
            return
        for task in running:
            task.cancel()
        await asyncio.wait(running, timeout=scaled(0.1))


async def abandon(pool: deadline_pool.JobPool) -> None:
    """Shut a broken pool down by cancelling, as far as it goes: the test has failed already."""
    if id(pool) in STALLED:
        return  # its shutdown stalled once already; its workers were stopped then
    with contextlib.suppress(Exception):
        async with asyncio.timeout(scaled(STALL)):
            await pool.shutdown(cancel_pending=True)


@contextlib.asynccontextmanager
async def open_pool(timeline: Timeline, workers: int) -> AsyncIterator[deadline_pool.JobPool]:
    """`async with deadline_pool.JobPool(workers) as pool:`, guarded for the tests.

    If the body fails, the pool is shut down with cancel_pending=True instead of drained, and
    a drain that has not returned after STALL fails the test: a broken pool cannot hang it.
    """
    pool = deadline_pool.JobPool(workers)
    with started_tasks() as started:
        entered = await pool.__aenter__()
    WORKER_TASKS[id(pool)] = started.tasks
    if entered is not pool:
        await abandon(pool)
        fail(
            f"`async with JobPool({workers}) as pool` gave pool = {entered!r}; expected the "
            "pool itself.\nTry: end __aenter__ with `return self`."
        )
    try:
        yield pool
    except BaseException:
        await abandon(pool)
        raise
    why = await stalled(pool.__aexit__(None, None, None), scaled(STALL), workers_of(pool))
    if why is not None:
        what = f"Leaving `async with JobPool({workers})` (a drain: shutdown())"
        await fail_stalled(pool, timeline, what, why)
    left = [task for task in started.tasks if not task.done()]
    if left:
        stopped = [task for task in left if task.cancelling()]
        await stop(left)
        fail(
            f"Leaving `async with JobPool({workers})` (a drain: shutdown()) returned, but "
            f"{len(left)} worker task(s) were still running: "
            + (
                "they had been cancelled, but nothing waited for them to stop (task.cancel() "
                "only asks).\n"
                if stopped
                else "nothing had cancelled them. A worker waiting in `await queue.get()` "
                "never stops on its own: it waits for jobs forever, behind the pool owner's "
                "back.\n"
            )
            + "Expected: no worker left running once shutdown() returns.\n"
            f"Try: after the drain, {STOP_THE_WORKERS}\n\n{timeline.draw()}"
        )


def workers_of(pool: deadline_pool.JobPool) -> Callable[[], list[asyncio.Task[Any]]]:
    return lambda: WORKER_TASKS.get(id(pool), [])


async def fail_stalled(
    pool: deadline_pool.JobPool, timeline: Timeline, what: str, why: str
) -> None:
    """Fail: `what` had not returned after STALL, for the reason `why`."""
    __tracebackhide__ = True
    STALLED.add(id(pool))
    await stop(WORKER_TASKS.get(id(pool), []))
    fail(
        f"{what} had not returned {STALL} s later (the test's jobs take at most {LONG} s): "
        f"it waits for something that never happens.\n{why}\n\n{timeline.draw()}"
    )


async def shut_down(
    pool: deadline_pool.JobPool, timeline: Timeline, cancel_pending: bool = False
) -> None:
    """`await pool.shutdown(cancel_pending)`; fail if it has not returned after STALL."""
    __tracebackhide__ = True
    shutdown = pool.shutdown(cancel_pending=cancel_pending)
    why = await stalled(shutdown, scaled(STALL), workers_of(pool))
    if why is not None:
        await fail_stalled(pool, timeline, f"pool.shutdown(cancel_pending={cancel_pending})", why)


async def until_running(timeline: Timeline, count: int, call: str) -> None:
    """Wait until `count` jobs are in flight (a probe, no clock); fail if they never are."""
    __tracebackhide__ = True

    async def started() -> None:
        # Polling a probe: the timeline records a start, it has no event to wait on.
        while timeline.in_flight < count:  # noqa: ASYNC110
            await asyncio.sleep(0.005)

    if not await within(scaled(STALL), started()):
        fail(
            f"{call}: {timeline.in_flight} job(s) were running {STALL} s after the submits; "
            f"expected {count} at once, one per worker.\n\n{timeline.draw()}"
        )
