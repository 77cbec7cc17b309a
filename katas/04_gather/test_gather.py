import gather
from harness import Timeline, scaled

DELAYS = (0.1, 0.2, 0.3)
JOBS = [(name, scaled(delay)) for name, delay in zip("ABC", DELAYS, strict=True)]


async def test_a_task_waits_its_delay_then_returns_its_result(timeline: Timeline) -> None:
    with timeline.expect_duration(0.1, what="task('A', 0.1)", advice="await asyncio.sleep(delay)."):
        result = await gather.task("A", scaled(0.1))
    assert result == "Result from A", f"task('A', 0.1) returned {result!r}"


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
    assert results == expected, (
        f"run_all(C 0.3, B 0.2, A 0.1) returned {results}, expected {expected}: the results "
        "must follow the order of the jobs, not the order in which they finished. "
        "asyncio.gather keeps the order of its arguments; collecting results as they "
        "complete does not.\n\n" + timeline.draw()
    )
