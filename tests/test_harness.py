"""The harness on purpose-built good and bad coroutines: its detectors and its messages."""

import itertools
import re
import textwrap
from pathlib import Path

import pytest
from sandbox import Run, build, run

HEADER = """\
import asyncio
import time

from harness import Timeline

JOBS = [("A", 0.1), ("B", 0.2), ("C", 0.3)]


async def concurrently(timeline: Timeline) -> None:
    await asyncio.gather(*(timeline.work(name, delay) for name, delay in JOBS))


async def one_after_another(timeline: Timeline) -> None:
    for name, delay in JOBS:
        await timeline.work(name, delay)
"""


def run_tests(tmp_path: Path, body: str, env: dict[str, str] | None = None) -> Run:
    sandbox = build(tmp_path)
    folder = sandbox / "katas" / "90_probe"
    folder.mkdir()
    (folder / "test_probe.py").write_text(HEADER + textwrap.dedent(body))
    return run(sandbox, "katas/90_probe", env=env)


def test_concurrent_work_passes_the_duration_check(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def test_it(timeline: Timeline) -> None:
            with timeline.expect_duration(0.3, delays=(0.1, 0.2, 0.3)):
                await concurrently(timeline)
            assert timeline.peak == 3
            timeline.expect_all_started_before_any_finished()
    """,
    )
    assert result.outcome_of("test_it").outcome == "passed", result.output


def test_sequential_work_is_called_the_sum_and_drawn(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def test_it(timeline: Timeline) -> None:
            with timeline.expect_duration(0.3, delays=(0.1, 0.2, 0.3), what="three calls"):
                await one_after_another(timeline)
    """,
    )
    text = result.outcome_of("test_it").text
    assert "three calls took 0." in text
    assert "SUM of the delays (0.10 + 0.20 + 0.30 = 0.60 s)" in text
    assert "one after another" in text
    assert "Expected: about 0.30 s (between 0.28 s and 0.35 s)" in text
    # one row per call, in start order, each starting where the previous one ended
    rows = [line.split("|") for line in text.splitlines() if line.startswith("  ") and "|" in line]
    assert [row[0].strip() for row in rows] == ["A", "B", "C"], text
    spans = [[float(t) for t in row[-1].split()[0].split("-")] for row in rows]
    assert spans[0][0] == 0.0, text
    for (_, previous_end), (start, _) in itertools.pairwise(spans):
        assert abs(start - previous_end) <= 0.01, text


def test_partly_sequential_work_is_told_apart_from_fully_sequential(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def test_it(timeline: Timeline) -> None:
            with timeline.expect_duration(0.3, delays=(0.1, 0.2, 0.3)):
                await timeline.work("A", 0.1)
                await asyncio.gather(timeline.work("B", 0.2), timeline.work("C", 0.3))
    """,
    )
    text = result.outcome_of("test_it").text
    assert re.search(r"took \d\.\d\d s: slower than the 0\.30 s it needs, yet faster", text), text
    assert "some calls waited for others" in text, text


def test_work_that_returns_too_early_is_told_it_did_not_wait(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def test_it(timeline: Timeline) -> None:
            with timeline.expect_duration(0.3, delays=(0.1, 0.2, 0.3)):
                await timeline.work("A", 0.1)
    """,
    )
    assert "something did not wait" in result.outcome_of("test_it").text


def test_probe_names_the_calls_that_started_late(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def test_it(timeline: Timeline) -> None:
            await one_after_another(timeline)
            assert timeline.peak == 1 and timeline.finished == ["A", "B", "C"]
            timeline.expect_all_started_before_any_finished("the three calls")
    """,
    )
    text = result.outcome_of("test_it").text
    assert "B, C started only after another call had finished" in text, text


def test_time_sleep_in_a_coroutine_is_reported_as_a_blocked_loop(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def sleepy() -> None:
            time.sleep(0.15)

        async def test_it() -> None:
            await asyncio.gather(sleepy(), asyncio.sleep(0.01))
    """,
    )
    text = result.outcome_of("test_it").text
    assert re.search(r"The event loop was blocked for \d\.\d\d s by sleepy\(\)", text), text
    assert "time.sleep()" in text


def test_a_cpu_loop_is_reported_as_a_blocked_loop(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def crunch() -> None:
            end = time.perf_counter() + 0.15
            while time.perf_counter() < end:
                pass

        async def test_it() -> None:
            await asyncio.create_task(crunch())
    """,
    )
    assert "The event loop was blocked" in result.outcome_of("test_it").text


def test_a_deadlock_fails_at_the_deadline_naming_the_stuck_await(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        import pytest

        async def wait_forever(event: asyncio.Event) -> None:
            await event.wait()

        @pytest.mark.timeout(2)
        async def test_stuck() -> None:
            await wait_forever(asyncio.Event())

        async def test_after() -> None:
            await asyncio.sleep(0)
    """,
    )
    stuck = result.outcome_of("test_stuck")
    assert stuck.outcome == "failed"
    assert "did not finish within 1.6 s" in stuck.text, stuck.text
    assert "test_probe.py:" in stuck.text and "await event.wait()" in stuck.text, stuck.text
    assert stuck.duration < 2.0
    assert result.outcome_of("test_after").outcome == "passed"


@pytest.mark.parametrize("blocker", ["time.sleep(30)", "while True: pass"])
def test_a_loop_blocked_forever_is_stopped_and_the_run_goes_on(
    tmp_path: Path, blocker: str
) -> None:
    result = run_tests(
        tmp_path,
        f"""
        import pytest

        @pytest.mark.timeout(1)
        async def test_frozen() -> None:
            {blocker}

        async def test_after() -> None:
            await asyncio.sleep(0)

        def test_sync_after() -> None:
            pass
    """,
    )
    frozen = result.outcome_of("test_frozen")
    assert frozen.outcome == "failed", frozen.text
    assert "The event loop was blocked for" in frozen.text, frozen.text
    assert "It never gave control back: the test was stopped by Timeout" in frozen.text
    assert frozen.duration < 3
    assert result.outcome_of("test_after").outcome == "passed", result.output
    assert result.outcome_of("test_sync_after").outcome == "passed", result.output


def test_a_task_left_running_fails_the_test_with_its_name(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def background() -> None:
            await asyncio.sleep(10)

        async def test_it() -> None:
            asyncio.create_task(background(), name="forgotten")
    """,
    )
    text = result.outcome_of("test_it").text
    assert "1 task(s) were still running when the test ended" in text, text
    assert "'forgotten' running background()" in text


def test_a_task_that_swallows_its_cancellation_is_named(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def stubborn() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass  # swallowed once; the loop's own clean-up cancels it for good
            await asyncio.sleep(10)

        async def test_it() -> None:
            asyncio.create_task(stubborn())
            await asyncio.sleep(0)
    """,
    )
    assert "ignored cancellation" in result.outcome_of("test_it").text


def test_a_task_that_cannot_end_its_cancellation_is_named_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    # A task stuck in Condition.wait() while a task that ended holds the lock cannot finish
    # its cancellation: wait() takes the lock back first. pytest-asyncio's teardown used to
    # wait for it for ever (pytest-timeout's alarm is off once a test has failed).
    result = run_tests(
        tmp_path,
        """
        import pytest

        KEPT: list[asyncio.Task[None]] = []  # held, so that no garbage collection ends them

        async def waiter(condition: asyncio.Condition) -> None:
            async with condition:
                await condition.wait()

        async def takes_the_lock(condition: asyncio.Condition) -> None:
            await condition.acquire()  # and returns without release()

        async def notifies_and_keeps_the_lock(condition: asyncio.Condition) -> None:
            await condition.acquire()
            condition.notify_all()

        async def stubborn() -> None:
            while True:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    pass

        async def test_left_waiting() -> None:
            condition = asyncio.Condition()
            KEPT.append(asyncio.create_task(waiter(condition), name="waiter"))
            await asyncio.sleep(0)
            await takes_the_lock(condition)

        @pytest.mark.timeout(2)
        async def test_stuck_in_it() -> None:
            condition = asyncio.Condition()
            async with condition:
                KEPT.append(asyncio.create_task(notifies_and_keeps_the_lock(condition)))
                await condition.wait()

        async def test_swallows_for_ever() -> None:
            KEPT.append(asyncio.create_task(stubborn(), name="stubborn"))
            await asyncio.sleep(0)

        async def test_after() -> None:
            await asyncio.sleep(0)
    """,
    )
    left = result.outcome_of("test_left_waiting").text
    assert (
        "task 'waiter' running waiter() is stuck in Condition.wait(), at "
        "katas/90_probe/test_probe.py:" in left
    ), left
    assert "in waiter: await condition.wait(), and cannot finish its cancellation" in left, left
    assert "that lock is still held by a task that has ended" in left, left
    assert "Try: `async with condition:`" in left, left
    stuck = result.outcome_of("test_stuck_in_it")
    assert "did not finish within 1.6 s" in stuck.text, stuck.text
    assert "woken in Condition.wait(), it waits to take the condition's lock back" in stuck.text
    assert "Timeout" not in stuck.text and stuck.duration < 2.0, stuck.text  # ended before it
    swallowed = result.outcome_of("test_swallows_for_ever").text
    assert (
        "task 'stubborn' running stubborn() ignored cancellation, at "
        "katas/90_probe/test_probe.py:" in swallowed
    ), swallowed
    assert "in stubborn: await asyncio.sleep(10): is a CancelledError being swallowed?" in swallowed
    assert result.outcome_of("test_after").outcome == "passed", result.output


def test_a_coroutine_never_awaited_fails_the_test_that_made_it(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def greet() -> str:
            return "hi"

        async def test_forgot_await() -> None:
            greet()

        async def test_fine() -> None:
            assert await greet() == "hi"
    """,
    )
    text = result.outcome_of("test_forgot_await").text
    assert "greet() was called but never awaited" in text, text
    assert "test_probe.py" in text  # where it was created
    assert result.outcome_of("test_fine").outcome == "passed"


def test_a_task_error_nobody_retrieved_fails_the_test(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def boom() -> None:
            raise ValueError("lost")

        async def test_it() -> None:
            task = asyncio.create_task(boom())
            await asyncio.sleep(0.01)
            assert task.done()
            del task
    """,
    )
    text = result.outcome_of("test_it").text
    assert "nobody was awaiting it" in text and "never retrieved" in text, text


def test_other_warnings_still_fail_the_test(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        import warnings

        async def test_it() -> None:
            warnings.warn("old API", DeprecationWarning)
    """,
    )
    assert "old API" in result.outcome_of("test_it").text


def test_kata_time_scale_stretches_delays_and_margins(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        import time
        from harness import MARGIN, scaled

        async def test_it(timeline: Timeline) -> None:
            assert scaled(0.1) == 0.2 and scaled(MARGIN) == 0.1
            started = time.perf_counter()
            with timeline.expect_duration(0.1):
                await timeline.work("A", 0.1)
            assert time.perf_counter() - started >= 0.19
    """,
        env={"KATA_TIME_SCALE": "2"},
    )
    assert result.outcome_of("test_it").outcome == "passed", result.output


def test_a_bad_kata_time_scale_is_one_clear_line(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path, "def test_it() -> None:\n    pass\n", env={"KATA_TIME_SCALE": "fast"}
    )
    assert "KATA_TIME_SCALE must be a positive number" in result.output


def test_order_probes_explain_what_overlapped_and_what_did_not(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def test_in_turn_passes(timeline: Timeline) -> None:
            await one_after_another(timeline)
            timeline.expect_one_after_another()

        async def test_in_turn_fails(timeline: Timeline) -> None:
            await concurrently(timeline)
            timeline.expect_one_after_another("the messages")

        async def test_overlap_passes(timeline: Timeline) -> None:
            await concurrently(timeline)
            timeline.expect_overlap("A", "C")

        async def test_overlap_fails(timeline: Timeline) -> None:
            await one_after_another(timeline)
            timeline.expect_overlap("C", "A", "so breakfast is late")

        async def test_unknown_label(timeline: Timeline) -> None:
            await timeline.work("A", 0.01)
            timeline.expect_overlap("A", "Z")
    """,
    )
    assert result.outcome_of("test_in_turn_passes").outcome == "passed", result.output
    assert result.outcome_of("test_overlap_passes").outcome == "passed", result.output
    in_turn = result.outcome_of("test_in_turn_fails").text
    assert "while A was still running: the messages did not wait for the previous one" in in_turn
    overlap = result.outcome_of("test_overlap_fails").text
    assert "C started only after A had finished" in overlap, overlap
    assert "so breakfast is late" in overlap
    unknown = result.outcome_of("test_unknown_label").text
    assert "Z was never called (recorded calls: ['A'])" in unknown, unknown


def test_work_can_fail_and_spans_know_their_task_and_instants(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        import pytest

        async def test_it(timeline: Timeline) -> None:
            with pytest.raises(ValueError, match="down"):
                await timeline.work("A", 0.01, error=ValueError("down"))
            task = asyncio.create_task(timeline.work("B", 0.01), name="worker")
            await task
            timeline.mark("signal")
            assert timeline.span("A").task is asyncio.current_task()
            assert timeline.span("B").task is task
            signal = timeline.span("signal")
            assert signal.start == signal.end
            assert timeline.started == ["A", "B", "signal"]
    """,
    )
    assert result.outcome_of("test_it").outcome == "passed", result.output


def test_failed_calls_instants_and_a_custom_slow_verdict_are_drawn(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def test_it(timeline: Timeline) -> None:
            assert timeline.find("A") is None
            with timeline.expect_duration(0.1, too_slow="it waited for the slowest call."):
                try:
                    await timeline.work("A", 0.1, error=ConnectionError("down"))
                except ConnectionError:
                    pass
                await timeline.work("B", 0.1)
                timeline.mark("returned")
    """,
    )
    text = result.outcome_of("test_it").text
    assert "slower than the 0.10 s it needs: it waited for the slowest call." in text, text
    assert re.search(r"A +\|#+ +\| 0\.00-0\.1\d s failed: ConnectionError", text), text
    instant = next(line for line in text.splitlines() if line.lstrip().startswith("returned"))
    assert "#" not in instant and instant.count("*") == 1, text


def test_a_loop_blocked_again_and_again_is_stopped_each_time(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        import threading

        import pytest

        @pytest.mark.timeout(1)
        async def test_threading_lock_in_async_code() -> None:
            lock = threading.Lock()
            lock.acquire()

            async def stuck() -> None:
                lock.acquire()  # blocks the loop, in every task

            async with asyncio.TaskGroup() as tg:
                for _ in range(3):
                    tg.create_task(stuck())

        async def test_after() -> None:
            await asyncio.sleep(0)
    """,
    )
    frozen = result.outcome_of("test_threading_lock_in_async_code")
    assert frozen.outcome == "failed", result.output
    assert frozen.duration < 6, frozen.duration
    assert result.outcome_of("test_after").outcome == "passed", result.output


def test_a_loop_blocked_past_the_deadline_is_named_as_blocked_not_as_a_deadlock(
    tmp_path: Path,
) -> None:
    result = run_tests(
        tmp_path,
        """
        import pytest

        @pytest.mark.timeout(1)
        async def test_polls_with_time_sleep() -> None:
            while True:
                time.sleep(0.2)
    """,
    )
    text = result.outcome_of("test_polls_with_time_sleep").text
    assert "The event loop was blocked" in text, text
    assert "did not finish within" not in text


def test_a_local_http_server_records_requests_on_the_timeline_and_stops(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        import aiohttp
        from aiohttp import web

        routes = web.RouteTableDef()
        SEEN: list[str] = []

        @routes.get("/slow/{n}")
        async def slow(request: web.Request) -> web.Response:
            await asyncio.sleep(0.1)
            return web.json_response({"n": request.match_info["n"]})

        async def test_serves(timeline: Timeline, http_server) -> None:
            server = http_server(routes)
            SEEN.append(server.url)
            assert server.url.startswith("http://127.0.0.1:")
            async with aiohttp.ClientSession() as session:

                async def get(path: str) -> int:
                    async with session.get(server.url + path) as response:
                        return response.status

                statuses = await asyncio.gather(get("/slow/1"), get("/slow/2"), get("/nope"))
            assert statuses == [200, 200, 404]
            timeline.expect_overlap("GET /slow/1", "GET /slow/2")  # the server's own spans
            assert timeline.peak >= 2, timeline.draw()
            assert sorted(r.path for r in server.requests) == ["/nope", "/slow/1", "/slow/2"]
            assert {r.status for r in server.requests} == {200, 404}
            assert all(r.end is not None for r in server.requests)
            assert 2 <= server.connections <= 3
            assert [r.path for r in server.requests_to("/slow")] != []

        async def test_the_server_was_stopped() -> None:
            host, port = SEEN[0].removeprefix("http://").split(":")
            try:
                await asyncio.open_connection(host, int(port))
            except ConnectionRefusedError:
                return
            raise AssertionError("the server of the previous test still accepts connections")
    """,
    )
    for test in ("test_serves", "test_the_server_was_stopped"):
        assert result.outcome_of(test).outcome == "passed", result.output


def test_a_local_nats_server_starts_and_is_stopped(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        import os

        import nats

        PIDS: list[int] = []

        async def test_connects(nats_server) -> None:
            assert nats_server.url.startswith("nats://127.0.0.1:")
            client = await nats.connect(nats_server.url)
            await client.close()
            PIDS.append(nats_server.pid)

        def test_the_server_was_stopped() -> None:
            try:
                os.kill(PIDS[0], 0)
            except ProcessLookupError:
                return
            raise AssertionError("the NATS server of the previous test is still running")
    """,
    )
    for test in ("test_connects", "test_the_server_was_stopped"):
        assert result.outcome_of(test).outcome == "passed", result.output


def test_polling_is_told_apart_from_waiting_by_its_wake_ups(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        from harness import started_tasks

        async def waits(gate: asyncio.Event) -> None:
            await gate.wait()

        async def polls(gate: asyncio.Event) -> None:
            while not gate.is_set():
                await asyncio.sleep(0.005)

        async def run(waiter) -> None:
            gate = asyncio.Event()
            with started_tasks(count_wakeups=True) as started:
                task = asyncio.create_task(waiter(gate))
            await asyncio.sleep(0.2)
            gate.set()
            await task
            started.expect_no_polling(most=3, what="0.2 s at a closed gate", wait_on="the Event")

        async def test_waiting() -> None:
            await run(waits)

        async def test_polling() -> None:
            await run(polls)
    """,
    )
    assert result.outcome_of("test_waiting").outcome == "passed", result.output
    text = result.outcome_of("test_polling").text
    assert re.search(r"Polling: the task running polls\(\) was woken up \d+ times in 0.2 s", text)
    assert "Try: wait on the Event" in text


def test_a_cancelled_caller_must_stop_what_it_started_and_end_cancelled(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        from harness import cancel_midway

        async def with_a_task_group(timeline: Timeline) -> None:
            async with asyncio.TaskGroup() as tg:
                for name, delay in JOBS:
                    tg.create_task(timeline.work(name, delay))

        async def with_wait(timeline: Timeline) -> None:
            tasks = [asyncio.create_task(timeline.work(n, d)) for n, d in JOBS]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)

        async def swallowing(timeline: Timeline) -> None:
            try:
                await with_a_task_group(timeline)
            except asyncio.CancelledError:
                pass

        async def test_task_group(timeline: Timeline) -> None:
            started = await cancel_midway(with_a_task_group(timeline), 0.05, "the caller")
            assert len(started.tasks) == 3

        async def test_wait(timeline: Timeline) -> None:
            await cancel_midway(with_wait(timeline), 0.05, "the caller", timeline)

        async def test_swallowed(timeline: Timeline) -> None:
            await cancel_midway(swallowing(timeline), 0.05, "the caller")

        async def unwritten() -> None:
            raise NotImplementedError("write it")

        async def test_an_error_before_the_cancel_is_the_failure() -> None:
            await cancel_midway(unwritten(), 0.05, "the caller")

        async def test_a_call_that_ends_at_once_is_told_so() -> None:
            await cancel_midway(asyncio.sleep(0, "done"), 0.05, "the caller")
    """,
    )
    assert result.outcome_of("test_task_group").outcome == "passed", result.output
    text = result.outcome_of("test_wait").text
    assert "the caller was cancelled after 0.05 s, while at `await asyncio.wait(" in text, text
    assert (
        "3 of the 3 task(s) it had started were still running: work() (started by "
        "asyncio.create_task), work() (started by asyncio.create_task)" in text
    ), text
    assert "still running" in text and "Timeline" in text
    swallowed = result.outcome_of("test_swallowed").text
    assert "but it returned None instead of ending cancelled" in swallowed, swallowed
    assert "still running when the test ended" not in text + swallowed  # reported once
    early = result.outcome_of("test_an_error_before_the_cancel_is_the_failure").text
    assert "NotImplementedError: write it" in early and "swallowed" not in early, early
    ended = result.outcome_of("test_a_call_that_ends_at_once_is_told_so").text
    assert "the caller returned 'done' within 0.05 s, before the test could cancel it" in ended


def test_a_cancelled_caller_that_waits_out_what_it_started_is_told_so(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        from harness import cancel_midway

        async def cancels_then_waits(timeline: Timeline) -> None:
            tasks = [asyncio.create_task(timeline.work(n, d)) for n, d in JOBS]
            try:
                await asyncio.wait(tasks)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        async def waits_without_cancelling(timeline: Timeline) -> None:
            tasks = [asyncio.create_task(timeline.work(n, d)) for n, d in JOBS]
            try:
                await asyncio.wait(tasks)
            finally:
                await asyncio.gather(*tasks, return_exceptions=True)

        async def stubborn(timeline: Timeline) -> None:
            try:
                await timeline.work("stubborn", 0.1)
            except asyncio.CancelledError:
                await asyncio.sleep(0.1)  # carries on, and ends normally

        async def cancels_a_stubborn_task(timeline: Timeline) -> None:
            task = asyncio.create_task(stubborn(timeline))
            try:
                await asyncio.wait({task})
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

        async def test_cancels_then_waits(timeline: Timeline) -> None:
            await cancel_midway(cancels_then_waits(timeline), 0.05, "the caller")

        async def test_waits_without_cancelling(timeline: Timeline) -> None:
            await cancel_midway(waits_without_cancelling(timeline), 0.05, "the caller")

        async def test_stubborn(timeline: Timeline) -> None:
            await cancel_midway(cancels_a_stubborn_task(timeline), 0.05, "the caller")
    """,
    )
    assert result.outcome_of("test_cancels_then_waits").outcome == "passed", result.output
    text = result.outcome_of("test_waits_without_cancelling").text
    assert re.search(r"the caller was cancelled after 0.05 s, .*it took 0.\d\d s more", text), text
    assert (
        "3 task(s) it had started ran to their end after the cancellation instead of being "
        "cancelled (work() (started by asyncio.create_task) returned None" in text
    ), text
    assert "nobody called cancel() on them, so the caller waited them out" in text, text
    stubborn = result.outcome_of("test_stubborn").text
    assert "were asked to cancel but did not end cancelled (stubborn()" in stubborn, stubborn
    assert "caught the CancelledError and carried on" in stubborn, stubborn


def test_a_failure_that_waits_out_the_other_calls_is_told_so(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        async def fails(timeline: Timeline) -> None:
            await timeline.work("broken", 0.05, error=ConnectionError("down"))

        async def with_a_task_group(timeline: Timeline) -> None:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(fails(timeline))
                tg.create_task(timeline.work("slow", 0.2))

        async def waits_them_out(timeline: Timeline) -> None:
            tasks = [
                asyncio.create_task(fails(timeline)),
                asyncio.create_task(timeline.work("slow", 0.2)),
            ]
            try:
                await asyncio.gather(*tasks)
            finally:
                await asyncio.wait(tasks)

        async def run(timeline: Timeline, caller) -> None:
            try:
                await caller(timeline)
            except* ConnectionError:
                pass
            timeline.expect_none_ran_on(timeline.span("broken"), "the caller", "a TaskGroup.")

        async def test_task_group(timeline: Timeline) -> None:
            await run(timeline, with_a_task_group)

        async def test_waited_out(timeline: Timeline) -> None:
            await run(timeline, waits_them_out)
    """,
    )
    assert result.outcome_of("test_task_group").outcome == "passed", result.output
    text = result.outcome_of("test_waited_out").text
    assert re.search(
        r"the caller raised only after slow \(at 0.2\d s\) had run to its end, although "
        r"broken had failed at 0.0\d s: it waited out work",
        text,
    ), text
    assert "Try: a TaskGroup." in text and "Timeline" in text, text


def test_a_failing_call_that_leaves_tasks_running_names_them_and_where_they_wait(
    tmp_path: Path,
) -> None:
    result = run_tests(
        tmp_path,
        """
        import sys

        from harness import left_running_after

        DOWN = ConnectionError("down")
        HERE = sys.modules[__name__]

        async def client(gate: asyncio.Event) -> None:
            await gate.wait()

        async def fails() -> None:
            await asyncio.sleep(0.01)
            raise DOWN

        async def with_a_task_group() -> None:
            gate = asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(client(gate))
                await fails()

        async def with_gather() -> None:
            await asyncio.gather(client(asyncio.Event()), fails())

        async def for_ever() -> None:
            await asyncio.Event().wait()

        async def check(call):
            return await left_running_after(
                call,
                0.5,
                error=DOWN,
                what="the caller",
                module=HERE,
                why="Nobody will open the gate.",
                failed="fails()'s error",
                expected="no client left.",
                advice="a TaskGroup.",
            )

        async def test_task_group() -> None:
            ran = await check(with_a_task_group())
            assert ran.raised is DOWN and not ran.timed_out, ran

        async def test_gather() -> None:
            await check(with_gather())

        async def test_stuck() -> None:
            ran = await check(for_ever())
            assert ran.timed_out and isinstance(ran.raised, TimeoutError), ran
    """,
    )
    assert result.outcome_of("test_task_group").outcome == "passed", result.output
    text = result.outcome_of("test_gather").text
    assert re.search(
        r"the caller raised it, leaving 1 task\(s\) it started still running: client\(\) "
        r"\(started by asyncio.gather\), waiting at `await gate.wait\(\)` \(test_probe.py:\d+\). "
        "Nobody will open the gate.",
        text,
    ), text
    assert "asyncio.gather raised fails()'s error as it came, and it cancels nothing" in text
    assert "Expected: no client left.\nTry: a TaskGroup." in text, text
    assert "still running when the test ended" not in text  # stopped by the probe
    assert result.outcome_of("test_stuck").outcome == "passed", result.output


def test_awaiting_walks_the_await_chain_of_a_suspended_task(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        import linecache
        import types

        from harness import awaiting, started_tasks

        @types.coroutine
        def old_style(event: asyncio.Event):  # a generator-based coroutine
            yield from event.wait()

        async def inner(event: asyncio.Event) -> None:
            await old_style(event)

        async def outer(event: asyncio.Event) -> None:
            await inner(event)

        async def test_it() -> None:
            event = asyncio.Event()
            task = asyncio.create_task(outer(event))
            await asyncio.sleep(0)
            chain = awaiting(task)
            names = [name for name, _ in chain]
            assert names == ["outer", "inner", "old_style", "Event.wait"], names
            frame = chain[1][1]
            line = linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()
            assert line == "await old_style(event)", line
            with started_tasks(count_wakeups=True):  # through the probe that relays each step
                counted = asyncio.create_task(outer(event))
            await asyncio.sleep(0)
            names = [name for name, _ in awaiting(counted)]
            assert names[-4:] == ["outer", "inner", "old_style", "Event.wait"], names
            event.set()
            await asyncio.gather(task, counted)
            assert awaiting(task) == []
    """,
    )
    assert result.outcome_of("test_it").outcome == "passed", result.output


def test_a_timer_left_armed_by_the_code_under_test_fails_the_test(tmp_path: Path) -> None:
    sandbox = build(tmp_path)
    folder = sandbox / "katas" / "90_probe"
    folder.mkdir()
    (folder / "probe.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            def ring() -> None:
                print("too late")

            def arm(cancel: bool) -> None:
                handle = asyncio.get_running_loop().call_later(5, ring)
                if cancel:
                    handle.cancel()
            """
        )
    )
    (folder / "test_probe.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            from probe import arm

            async def test_disarmed() -> None:
                arm(cancel=True)
                asyncio.get_running_loop().call_later(5, print)  # not the kata's code

            async def test_armed() -> None:
                arm(cancel=False)
            """
        )
    )
    result = run(sandbox, "katas/90_probe")
    assert result.outcome_of("test_disarmed").outcome == "passed", result.output
    text = result.outcome_of("test_armed").text
    assert "1 timer(s) set with loop.call_later/call_at were still armed" in text, text
    assert re.search(r"ring\(\) \(probe.py:\d+\), due in [45]\.\d\d s", text), text


def test_shared_outcome_helpers_say_what_became_of_each_task(tmp_path: Path) -> None:
    result = run_tests(
        tmp_path,
        """
        from harness import fail, listed, loop_turns, outcome, outcomes, patiently, raised, settle
        from harness import still_running, were

        async def test_outcomes() -> None:
            before = asyncio.all_tasks()
            done = asyncio.create_task(asyncio.sleep(0, "ok"))
            slow = asyncio.create_task(asyncio.sleep(5))
            cancelled = asyncio.create_task(asyncio.sleep(5))
            cancelled.cancel()
            await settle([done, cancelled], within=0.5)
            assert outcome(done) == "returned 'ok'"
            assert outcome(cancelled) == "ended cancelled (CancelledError)"
            assert outcome(slow) == "was still pending"
            assert still_running(before) == [slow]
            failing = asyncio.get_running_loop().create_future()
            failing.set_exception(ValueError("no"))
            assert raised(failing, ValueError) and not raised(done, ValueError)
            assert outcome(failing) == "raised ValueError('no')"
            assert await patiently(slow, within=0.05) is None and slow.cancelled()
            assert await patiently(asyncio.sleep(0, 7), within=0.5) == 7
            assert outcomes({"a": done, "b": failing}) == (
                "  a returned 'ok'\\n  b raised ValueError('no')"
            )
            assert [listed([]), listed("a"), listed("ab"), listed("abc")] == [
                "", "a", "a and b", "a, b and c"
            ]
            assert [were([1]), were([1, 2]), were([])] == ["was", "were", "were"]
            steps: list[int] = []

            async def stepping() -> None:
                for step in range(10):
                    steps.append(step)
                    await asyncio.sleep(0)

            walker = asyncio.create_task(stepping())
            await loop_turns(3)
            assert len(steps) == 3, steps
            walker.cancel()

        async def test_fail() -> None:
            fail("a learner's message, and nothing else")
    """,
    )
    assert result.outcome_of("test_outcomes").outcome == "passed", result.output
    text = result.outcome_of("test_fail").text
    assert text.strip() == "a learner's message, and nothing else", text


def test_the_collector_runs_only_when_a_test_asks_and_is_not_blocking(tmp_path: Path) -> None:
    # A collection of the whole heap mid-step took up to 0.3 s under load (CI, kata 36): it was
    # reported as the learner's code blocking the loop.
    result = run_tests(
        tmp_path,
        """
        import gc
        from harness import collect_garbage

        collections: list[int] = []

        def slowly_noted(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                collections.append(info["generation"])
                time.sleep(0.15)  # a big heap on a busy machine

        class Cycle:
            def __init__(self) -> None:
                self.me = self

        async def test_garbage() -> None:
            gc.callbacks.append(slowly_noted)
            try:
                for _ in range(100_000):  # far past every generation's threshold
                    Cycle()
                await asyncio.sleep(0)
                assert collections == [], "an automatic collection ran in the test"
                await collect_garbage()
                assert collections == [2]
            finally:
                gc.callbacks.remove(slowly_noted)
        """,
    )
    assert result.outcome_of("test_garbage").outcome == "passed", result.output


def test_spies_see_what_the_learners_module_makes_calls_and_reads(tmp_path: Path) -> None:
    sandbox = build(tmp_path)
    folder = sandbox / "katas" / "90_probe"
    folder.mkdir()
    (folder / "probe.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            import time
            from asyncio import Semaphore as Slots
            from time import time as now

            def make() -> list[object]:
                return [asyncio.Semaphore(2), Slots(3), asyncio.Lock()]

            def clocks() -> tuple[float, float]:
                return time.time(), now()

            async def stuck(event: asyncio.Event) -> None:
                await event.wait()
            """
        )
    )
    (folder / "test_probe.py").write_text(
        textwrap.dedent(
            """
            import asyncio
            import time

            import probe
            import pytest
            from harness import FakeClock, Timeline, instances_made, swap_in, waiting_at
            from harness import wall_clock

            def test_instances_and_swaps(monkeypatch: pytest.MonkeyPatch) -> None:
                made = instances_made(monkeypatch, probe, asyncio, "Semaphore")
                semaphores = probe.make()[:2]
                assert made == semaphores
                assert asyncio.Semaphore(1) not in made  # the test's own: not the module's
                assert isinstance(made[0], asyncio.Semaphore)
                calls: list[str] = []
                swap_in(monkeypatch, probe, asyncio, Lock=lambda: calls.append("Lock"))
                probe.make()
                assert calls == ["Lock"]
                assert asyncio.Lock is asyncio.locks.Lock  # only probe.py sees the stand-ins

            def test_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
                wall = wall_clock(monkeypatch, probe)
                wall.offset = -3600.0
                first, second = probe.clocks()
                assert wall.reads == 2
                assert time.time() - first > 3500 and time.time() - second > 3500

            async def test_fake_clock_and_waiting_at(timeline: Timeline) -> None:
                clock = FakeClock(timeline)
                start = clock()
                clock.advance(61)
                assert clock() - start == 61 and clock.reads == 2
                assert "clock +61 s" in timeline.draw()
                event = asyncio.Event()
                task = asyncio.create_task(probe.stuck(event))
                await asyncio.sleep(0)
                names, line = waiting_at(task, probe)
                assert names[0] == "stuck" and "Event.wait" in names[-1], names
                assert line.startswith("`await event.wait()` (probe.py:"), line
                event.set()
                await task
                assert waiting_at(task, probe) == ([], "")
            """
        )
    )
    result = run(sandbox, "katas/90_probe")
    for test in ("test_instances_and_swaps", "test_wall_clock", "test_fake_clock_and_waiting_at"):
        assert result.outcome_of(test).outcome == "passed", result.output


COUNTER = '''\
class Counter:
    """Counts up by one from zero."""

    def __init__(self) -> None:
        self.value = 0

    async def up(self) -> int:
        self.value += {step}
        return self.value
'''
GRADING = """\
import pytest
from harness import Bug, Grade, Grader

GRADER = Grader(__file__, tests="probe_tests.py", component="counter", shown_as="Counter")
pytestmark = pytest.mark.timeout(60)


def test_pass(grade: Grade) -> None:
    grade.expect_all_pass()


def test_no_waits(grade: Grade) -> None:
    grade.expect_no_real_waits("Use no clock at all.")


@pytest.mark.parametrize("bug", GRADER.bugs, ids=str)
def test_catch(grade: Grade, bug: Bug) -> None:
    grade.expect_caught(bug)
"""


def graded(tmp_path: Path, learner_tests: str) -> Run:
    """A "write the tests" kata in a sandbox: a Counter, two broken ones, the learner's tests."""
    sandbox = build(tmp_path)
    folder, bugs = sandbox / "katas" / "90_probe", sandbox / "katas" / "_bugs" / "90_probe"
    (folder / "given").mkdir(parents=True)
    bugs.mkdir(parents=True)
    (folder / "given" / "counter.py").write_text(COUNTER.format(step=1))
    (bugs / "counts_by_two.py").write_text('"""counts up by two."""\n' + COUNTER.format(step=2))
    (bugs / "starts_at_one.py").write_text(
        '"""starts at one."""\n' + COUNTER.format(step=1).replace("value = 0", "value = 1")
    )
    (folder / "test_probe.py").write_text(GRADING)
    (folder / "probe_tests.py").write_text(textwrap.dedent(learner_tests))
    return run(sandbox, "katas/90_probe")


def test_grading_passes_tests_that_catch_every_bug(tmp_path: Path) -> None:
    result = graded(
        tmp_path,
        """
        import time

        from counter import Counter

        async def test_counts_one_two() -> None:
            counter = Counter()
            assert [await counter.up(), await counter.up()] == [1, 2]

        async def test_a_slow_step_of_the_tests_own() -> None:
            # Heavy set-up (the first mocks of a run) holds the loop; it waits on no clock.
            started = time.perf_counter()
            while time.perf_counter() - started < 0.15:
                pass
            assert await Counter().up() == 1
        """,
    )
    for test in (
        "test_pass",
        "test_no_waits",
        "test_catch[counts_by_two]",
        "test_catch[starts_at_one]",
    ):
        assert result.outcome_of(test).outcome == "passed", result.output


def test_grading_names_a_sleep_a_failing_test_and_a_missed_bug(tmp_path: Path) -> None:
    result = graded(
        tmp_path,
        """
        import asyncio

        from counter import Counter

        async def test_first_is_odd() -> None:
            await asyncio.sleep(0.01)
            assert await Counter().up() > 0

        def test_starts_at_zero() -> None:
            assert Counter().value == 0

        async def test_wrong_on_purpose() -> None:
            assert await Counter().up() == 2
        """,
    )
    failing = result.outcome_of("test_pass").text
    assert "1 of your 3 tests fails on the working Counter" in failing, failing
    assert "test_wrong_on_purpose: " in failing, failing
    sleeping = result.outcome_of("test_no_waits").text
    assert "test_first_is_odd sleeps on the real clock: 0.01 s at line 7" in sleeping, sleeping
    assert "Use no clock at all." in sleeping, sleeping
    assert result.outcome_of("test_catch[starts_at_one]").outcome == "passed", result.output
    missed = result.outcome_of("test_catch[counts_by_two]").text
    assert "Your tests caught 1 of 2 broken versions of Counter." in missed, missed
    assert "Not caught: a Counter that counts up by two" in missed, missed
    assert "test_first_is_odd fails on no broken version at all" in missed, missed


def test_grading_says_when_nothing_passes_yet(tmp_path: Path) -> None:
    result = graded(
        tmp_path,
        """
        async def test_placeholder() -> None:
            raise NotImplementedError("write tests")
        """,
    )
    for test in ("test_no_waits", "test_catch[counts_by_two]"):
        text = result.outcome_of(test).text
        assert "Nothing to grade yet" in text and "NotImplementedError" in text, text
