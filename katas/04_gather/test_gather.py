from collections import Counter

import gather
import pytest
from harness import Timeline, cancel_midway, fail, scaled

DELAYS = (0.1, 0.2, 0.3)
JOBS = [(name, scaled(delay)) for name, delay in zip("ABC", DELAYS, strict=True)]


async def test_a_task_waits_its_delay_then_returns_its_result(timeline: Timeline) -> None:
    with timeline.expect_duration(0.1, what="task('A', 0.1)", advice="await asyncio.sleep(delay)."):
        result = await gather.task("A", scaled(0.1))
    if result != "Result from A":
        fail(f"task('A', 0.1) returned {result!r}, expected 'Result from A'.")


async def test_three_tasks_finish_in_about_the_longest_delay(timeline: Timeline) -> None:
    timeline.spy(gather, "task")
    with timeline.expect_duration(max(DELAYS), delays=DELAYS, what="run_all(A 0.1, B 0.2, C 0.3)"):
        await gather.run_all(JOBS)


async def test_every_task_starts_before_any_finishes(timeline: Timeline) -> None:
    timeline.spy(gather, "task")
    await gather.run_all(JOBS)
    timeline.expect_all_started_before_any_finished("run_all's tasks")


async def test_results_come_back_in_the_order_of_the_jobs(timeline: Timeline) -> None:
    timeline.spy(gather, "task")
    slowest_first = JOBS[::-1]
    results = await gather.run_all(slowest_first)
    expected = ["Result from C", "Result from B", "Result from A"]
    if results != expected:
        fail(
            f"run_all(C 0.3, B 0.2, A 0.1) returned {results}, expected {expected}: the results "
            "must follow the order of the jobs, not the order in which they finished.\n"
            "Try: asyncio.gather keeps the order of its arguments; collecting results as they "
            "complete does not.\n\n" + timeline.draw()
        )


async def test_no_jobs_give_no_results() -> None:
    results = await gather.run_all([])
    if results != []:
        fail(f"run_all([]) returned {results!r}, expected []: no jobs, no results.")


async def test_a_cancelled_run_all_leaves_no_task_running(timeline: Timeline) -> None:
    timeline.spy(gather, "task")
    await cancel_midway(
        gather.run_all(JOBS), after=0.05, what="run_all(A 0.1, B 0.2, C 0.3)", timeline=timeline
    )


# Stage 2: one service is down. B fails after its delay; A and C answer as before.
FAILING, DOWN = "B", ConnectionError("service unavailable")
WITH_B_DOWN = "run_all(A 0.1, B 0.2, C 0.3) where task('B', 0.2) raises ConnectionError"
WITH_A_FAILURE = ["Result from A", "Error from B: service unavailable", "Result from C"]
KEEP_GOING = (
    "one asyncio.gather over every job, where a failure becomes a result: either each job's "
    "own small coroutine awaits task() in try/except and returns "
    '"Error from <name>: <error>", or gather(..., return_exceptions=True) hands you the '
    "exception in its place and you turn it into that text."
)


def one_task_fails(timeline: Timeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace gather.task with a fake whose call for job B raises after its delay."""
    delays = dict(zip("ABC", DELAYS, strict=True))

    async def task(name: str, delay: float) -> str:
        error = DOWN if name == FAILING else None
        shown = f"task({name!r}, {delays[name]})"
        return str(await timeline.work(shown, delays[name], f"Result from {name}", error=error))

    monkeypatch.setattr(gather, "task", task)


async def run_all_with_b_down(timeline: Timeline) -> list[str]:
    """run_all(JOBS) where B fails: its results, or a failure explaining what it raised."""
    __tracebackhide__ = True
    raised: Exception | None = None
    try:
        return await gather.run_all(JOBS)
    except (ConnectionError, ExceptionGroup) as error:
        raised = error
    # outside `except`, so the failure shows this explanation once
    if isinstance(raised, ExceptionGroup):
        mistake = (
            f"run_all raised {raised!r}: a TaskGroup stops everything when one of its tasks "
            "fails (it cancelled the others, see the timeline) and raises the error in a group."
        )
    else:
        mistake = (
            f"run_all raised {raised!r}: one failing task made the whole of run_all fail, and "
            "the results of A and C were lost."
        )
    fail(
        f"{WITH_B_DOWN}: {mistake}\nExpected: {WITH_A_FAILURE}.\nTry: {KEEP_GOING}"
        f"\n\n{timeline.draw()}"
    )


@pytest.mark.stage(2)
async def test_a_failed_task_leaves_its_error_in_its_place(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_task_fails(timeline, monkeypatch)
    results = await run_all_with_b_down(timeline)
    if any(isinstance(r, BaseException) for r in results):
        mistake = (
            "some places hold the exception object itself, not its text: build the string "
            'f"Error from {name}: {error}" for each result that is an exception.'
        )
    else:
        mistake = 'a failed task leaves "Error from <name>: <error>" in its place.'
    if results != WITH_A_FAILURE:
        fail(
            f"{WITH_B_DOWN} returned {results!r}, expected {WITH_A_FAILURE!r}: {mistake}\n\n"
            + timeline.draw()
        )


@pytest.mark.stage(2)
async def test_each_job_runs_once_even_when_one_fails(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_task_fails(timeline, monkeypatch)
    await run_all_with_b_down(timeline)
    counts = Counter(timeline.started)
    again = [f"{label} {n} times" for label, n in counts.items() if n > 1]
    failed = timeline.span("task('B', 0.2)")
    retried = failed.end is not None and any(
        s.start >= failed.end for s in timeline.spans if counts[s.label] > 1
    )
    if again:
        fail(
            f"{WITH_B_DOWN} called {', '.join(again)}: it ran jobs "
            + ("again after the failure" if retried else "more than once")
            + ", which doubles the work and the wait (and a job with side effects, such as a "
            "payment, happens twice).\n"
            "Expected: each job run once; the failure is known from that one run.\n"
            f"Try: {KEEP_GOING}\n\n{timeline.draw()}"
        )


@pytest.mark.stage(2)
async def test_a_failed_task_does_not_stop_the_others_or_cost_extra_time(
    timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_task_fails(timeline, monkeypatch)
    with timeline.expect_duration(
        max(DELAYS),
        what=WITH_B_DOWN,
        too_slow="the failure cost extra time: a failed task should only leave its error in "
        "its place, while the other tasks go on at the same time.",
        advice=KEEP_GOING,
    ):
        await run_all_with_b_down(timeline)
    stopped = [s.label for s in timeline.spans if s.cancelled]
    if stopped:
        fail(
            f"run_all cancelled {', '.join(stopped)} when task('B') failed: the other jobs must "
            f"run to the end and keep their results.\nTry: {KEEP_GOING}\n\n{timeline.draw()}"
        )
