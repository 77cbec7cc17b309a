from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any, NoReturn

import graceful_shutdown
import pytest
from graceful_shutdown import Summary
from harness import EARLY, MARGIN, StartedTasks, Timeline, fail, patiently, scaled, started_tasks

# At SIGTERM, a (0.2 s) and b (0.3 s) run on the two workers and c (0.2 s) waits in the queue:
# all three are done 0.4 s after they were queued, well within the grace of 1 s.
IN_FLIGHT = {"a": 0.2, "b": 0.3, "c": 0.2}
# "long" would run for 10 s: the grace of 0.3 s ends it; "short" (0.1 s) finishes in time.
LONG = {"long": 10.0, "short": 0.1}
# How long a client waits for an answer, or for the server to close its connection.
PATIENCE = 0.5
# "bad" raises after 0.1 s; "after" (0.1 s) runs next on the same worker.
FAILING = {"bad": 0.1, "after": 0.1}
# An idle service gets SIGTERM this long after the test started waiting (the loop then sleeps).
IDLE = 0.1


async def test_jobs_in_flight_at_the_signal_all_finish(timeline: Timeline) -> None:
    async with running(timeline, IN_FLIGHT, workers=2, grace=1.0) as service:
        client = await service.client()
        await client.submit(*IN_FLIGHT)
        await service.terminate()
        summary = await service.stopped()
    cut_short = [s.label for s in timeline.spans if s.cancelled]
    if cut_short:
        fail(
            f"{service.call()}: SIGTERM came while a and b ran and c waited; {cut_short} were "
            f"cancelled, though all three were done 0.4 s later, well within the grace of "
            f"{service.grace:.2f} s: the service cancelled work it had time to finish.\n"
            "Likely mistake: cancelling the workers as soon as the signal comes.\n"
            "Try: first `await queue.join()` inside `async with asyncio.timeout(grace):`, and "
            "cancel the workers only after that.\n\n" + timeline.draw()
        )
    expect_every_job(summary, service, finished=["a", "b", "c"], cancelled=set())


async def test_the_workers_run_the_jobs_side_by_side(timeline: Timeline) -> None:
    async with running(timeline, IN_FLIGHT, workers=2, grace=1.0) as service:
        client = await service.client()
        await client.submit(*IN_FLIGHT)
        await service.terminate()
        await service.stopped()
    if timeline.peak == 2:
        return
    if timeline.peak == 1:
        mistake = (
            "Only one job ran at a time: a, b and c ran one after another, on a single worker "
            "(0.2 + 0.3 + 0.2 = 0.7 s instead of 0.4 s).\n"
            "Try: start `workers` worker tasks, all taking jobs from the same queue."
        )
    else:
        mistake = (
            "More jobs ran at once than there are workers: is each job started as a task of "
            "its own (then nothing limits them), instead of run by one of `workers` tasks?"
        )
    fail(
        f"{service.call()}: a, b and c were queued; {timeline.peak} of them ran at the same "
        f"time; expected 2, one per worker.\n{mistake}\n\n{timeline.draw()}"
    )


async def test_the_service_returns_as_soon_as_the_work_is_done(timeline: Timeline) -> None:
    async with running(timeline, IN_FLIGHT, workers=2, grace=1.0) as service:
        client = await service.client()
        await client.submit(*IN_FLIGHT)
        await service.terminate()
        await service.stopped()
    last = max(s.end or 0.0 for s in timeline.spans if s.label.startswith("job"))
    if service.returned - last <= scaled(MARGIN):
        return
    fail(
        f"{service.call()}: the last job was done {last - service.signalled:.2f} s after "
        f"SIGTERM, and the service returned {service.returned - last:.2f} s after that; "
        f"expected it to return at once (within {scaled(MARGIN):.2f} s).\n"
        "It waited it out: the grace is a deadline, not a pause; Kubernetes, waiting for the "
        "process to end, and the next deploy with it, wait with it. Was it "
        "`await asyncio.sleep(grace)`?\n"
        "Try: wait for the queue to be done, `await queue.join()`, inside "
        "`async with asyncio.timeout(grace):`: it returns as soon as the last job ends.\n\n"
        + timeline.draw()
    )


async def test_a_long_job_is_cancelled_at_the_deadline(timeline: Timeline) -> None:
    async with running(timeline, LONG, workers=2, grace=0.3) as service:
        client = await service.client()
        await client.submit(*LONG)
        await service.terminate()
        summary = await service.stopped()
    took = service.returned - service.signalled
    if took < EARLY * service.grace:
        fail(
            f"{service.call()} returned {took:.2f} s after SIGTERM, before its grace of "
            f"{service.grace:.2f} s was over: the long job was cut short before its deadline.\n"
            "Try: let the jobs run until the deadline (`async with asyncio.timeout(grace):`) "
            "before you cancel them.\n\n" + timeline.draw()
        )
    if took > service.grace + scaled(MARGIN):
        fail(
            f"{service.call()} returned {took:.2f} s after SIGTERM; expected about "
            f"{service.grace:.2f} s: it did not stop at the deadline.\n\n" + timeline.draw()
        )
    if not timeline.span("job long").cancelled:
        fail(f"job long was not cancelled at the deadline.\n\n{timeline.draw()}")
    expect_every_job(summary, service, finished=["short"], cancelled={"long"})


async def test_jobs_still_waiting_at_the_deadline_are_reported_not_lost(
    timeline: Timeline,
) -> None:
    async with running(timeline, LONG, workers=1, grace=0.3) as service:
        client = await service.client()
        await client.submit(*LONG)  # one worker: "short" waits behind "long"
        await service.terminate()
        summary = await service.stopped()
    expect_every_job(summary, service, finished=[], cancelled={"long", "short"})


async def test_new_connections_are_refused_after_the_signal(timeline: Timeline) -> None:
    async with running(timeline, LONG, workers=1, grace=0.5) as service:
        idle = await service.client()
        await idle.submit("long")
        await service.terminate()
        await patiently(
            idle.reader.read(), PATIENCE
        )  # the service is shutting down once it closes this
        try:
            latecomer = await service.client()
        except ConnectionRefusedError:
            await service.stopped()
            return
        await latecomer.submit("short")
        fail(
            f"{service.call()} got SIGTERM, and during its grace period a new client still "
            "connected and had its job queued: the service is still accepting connections, "
            "so new work keeps coming while it tries to stop.\n"
            "Expected: the connection refused (ConnectionRefusedError) from the signal on.\n"
            "Try: `server.close()` as soon as the signal comes: it stops listening at once "
            "(the `async with server:` block closes it only at its end)."
        )


async def test_every_client_connection_is_closed_on_shutdown(timeline: Timeline) -> None:
    async with running(timeline, LONG, workers=1, grace=0.3) as service:
        idle = await service.client()
        await idle.submit("long")
        await service.terminate()
        closed = await patiently(idle.reader.read(), PATIENCE)
        if closed is None:
            fail(
                f"{service.call()} got SIGTERM; {scaled(PATIENCE):.2f} s later the connection "
                "of a client that had sent its job was still open: the service left it open "
                "(server.close() stops accepting, but does not close the connections it "
                "already has, and on Python 3.12+ server.wait_closed() then waits forever).\n"
                "Try: keep the writers of the connections in a set, and close each one when "
                "the signal comes."
            )
        await service.stopped()


async def test_the_signal_handler_is_removed_when_the_service_returns(
    timeline: Timeline,
) -> None:
    async with running(timeline, LONG, workers=2, grace=0.3) as service:
        client = await service.client()
        await client.submit("short")
        await service.terminate()
        await service.stopped()
        if asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM):
            fail(
                f"{service.call()} returned, and its SIGTERM handler was still installed on "
                "the event loop: the next SIGTERM would call into a service that is gone "
                "instead of stopping the program.\n"
                "Try: `loop.remove_signal_handler(signal.SIGTERM)` in a `finally:` around the "
                "service, so that it goes on every way out."
            )
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, service.stand_in):
            fail(
                f"{service.call()} returned and left a SIGTERM handler of its own installed "
                f"({signal.getsignal(signal.SIGTERM)!r}).\n"
                "Try: loop.add_signal_handler / loop.remove_signal_handler, in a `finally:`."
            )


async def test_sigterm_starts_the_shutdown(timeline: Timeline) -> None:
    async with running(timeline, LONG, workers=2, grace=0.3) as service:
        client = await service.client()
        await client.submit("short")
        await service.terminate()
        summary = await service.stopped()
    expect_every_job(summary, service, finished=["short"], cancelled=set())


async def test_a_job_that_fails_is_reported_and_its_worker_goes_on(timeline: Timeline) -> None:
    async with running(timeline, FAILING, workers=1, grace=1.0) as service:
        client = await service.client()
        await client.submit("bad", "after")  # one worker: "after" waits behind "bad"
        await service.until_ended("after")
        service.expect_no_error()
        bad = timeline.find("job bad")
        if bad is not None and bad.error is not None and timeline.find("job after") is None:
            fail(  # the service may still be up (closing its server waits for the clients)
                f"{service.call()}: job 'bad' raised {bad.error!r} at "
                f"{timeline.drawn(bad.end or 0):.2f} s, "
                "and job 'after', queued behind it for the one worker, never started: the "
                "failure took the worker with it. A job that fails must not stop the service "
                "(nor, through the task group, every other job with it).\n"
                "Expected: 'bad' reported in Summary.failed, and its worker on to 'after'.\n"
                "Try: `except Exception:` around `await job(name)` in the worker (after the "
                "`except asyncio.CancelledError:`), noting the name in `summary.failed`."
            )
        await service.terminate()
        summary = await service.stopped()
    expect_every_job(summary, service, finished=["after"], cancelled=set(), failed=["bad"])


async def test_an_idle_service_stops_at_once_on_sigterm(timeline: Timeline) -> None:
    async with running(timeline, LONG, workers=2, grace=1.0) as service:
        await service.terminate_while_idle()
        service.expect_sigterm_handled()
        assert service.task is not None
        took = (service.ended if service.task.done() else timeline.now()) - service.signalled
        # The loop's own handler (asyncio's, uvloop's) is what loop.add_signal_handler installs.
        outside = not service.handler_module.startswith(("asyncio", "uvloop"))
        prompt = took <= scaled(0.1 + MARGIN)
        if prompt and not outside:
            await service.stopped()
            return
        seen = (
            f"{service.call()} was idle (no client, no job) when SIGTERM came, from outside as "
            "`docker stop` sends it; it "
            + (f"returned {took:.2f} s later" if service.task.done() else "was still running ")
            + ("" if service.task.done() else f"{took:.2f} s later, though it had nothing to do")
        )
        if not outside:
            fail(f"{seen}.\nExpected: the shutdown starts at the signal, with nothing else to do.")
        handler = (
            f"SIGTERM's handler was {service.handler}(), installed with signal.signal(): it runs "
            "between two bytecodes of the main thread, outside the event loop"
        )
        fail(
            f"{seen}.\n"
            + (
                f"{handler}, and does not wake a loop that sleeps waiting for I/O: setting the "
                "event from there schedules the wake-up, and nothing runs it until something "
                "else (a client, a timer) wakes the loop. An idle service ignores SIGTERM until "
                "the orchestrator kills it.\n"
                if not prompt
                else f"{handler}. This event loop happened to wake up for it (uvloop does, and so "
                "does a loop that watches another signal already); asyncio's own loop does "
                "not: there, an idle service ignores SIGTERM "
                "until something else wakes the loop, or the orchestrator kills it.\n"
            )
            + "Try: `loop.add_signal_handler(signal.SIGTERM, stop.set)`: the loop itself wakes "
            "up and calls stop.set()."
        )


class JobFailed(Exception):
    """What job("bad") raises."""


class Service:
    """The learner's run_service, started by the test; every job is drawn on the timeline."""

    def __init__(self, timeline: Timeline, delays: dict[str, float], workers: int, grace: float):
        self.timeline, self.delays = timeline, delays
        self.workers, self.grace = workers, scaled(grace)
        self.port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[Summary] | None = None
        self.stand_in_got_sigterm = False
        self.clients: list[Client] = []
        self.accepted: list[str] = []  # the jobs the service said it queued
        self.signalled = self.returned = 0.0  # when, on the timeline
        self.ended = 0.0  # when run_service's task ended, on the timeline
        self.started: StartedTasks | None = None  # every task created while the service ran
        self.outlived: list[str] = []  # the tasks it started still running when it returned
        self.handler, self.handler_module = "", ""  # SIGTERM's handler while it ran
        self.job_ended = asyncio.Event()  # set whenever a job ends

    def call(self) -> str:
        return f"run_service(job, ready, workers={self.workers}, grace={self.grace:.2f})"

    async def job(self, name: str) -> str:
        error = JobFailed(f"{name} failed") if name == "bad" else None
        try:
            done: str = await self.timeline.work(
                f"job {name}", self.delays[name], name, error=error
            )
        finally:
            self.job_ended.set()
        return done

    async def until_ended(self, name: str) -> None:
        """Wait until job `name` has ended, or the service has (PATIENCE after the delays)."""
        assert self.task is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(scaled(sum(self.delays.values()) + PATIENCE)):
                while not self.task.done() and not (
                    (span := self.timeline.find(f"job {name}")) and span.end is not None
                ):
                    self.job_ended.clear()
                    await self.job_ended.wait()

    def stand_in(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM's handler until the service installs its own: the test process lives on."""
        self.stand_in_got_sigterm = True

    async def start(self) -> None:
        self.task = asyncio.create_task(
            graceful_shutdown.run_service(
                self.job, self.port.set_result, workers=self.workers, grace=self.grace
            )
        )
        self.task.add_done_callback(self.on_return)
        await asyncio.wait(
            {self.task, self.port}, timeout=scaled(PATIENCE), return_when=asyncio.FIRST_COMPLETED
        )
        if self.task.done():
            self.task.result()  # its error (NotImplementedError, for a start)
            fail(f"{self.call()} returned before it was sent SIGTERM, without calling ready().")
        if not self.port.done():
            fail(
                f"{self.call()} did not call ready(port) within {scaled(PATIENCE):.2f} s: call "
                "it once the server listens and the SIGTERM handler is installed."
            )

    def on_return(self, task: asyncio.Task[Summary]) -> None:
        self.ended = self.timeline.now()
        self.job_ended.set()  # whoever waits for a job: the service is gone
        if self.started is not None:
            self.outlived = [
                getattr(t.get_coro(), "__qualname__", t.get_name())
                for t in self.started.still_running()
                if t is not task
            ]

    async def client(self) -> Client:
        client = Client(
            self, *await asyncio.open_connection(graceful_shutdown.HOST, self.port.result())
        )
        self.clients.append(client)
        return client

    async def terminate(self) -> None:
        """Send SIGTERM to this process, as `docker stop`, systemd or Kubernetes do."""
        self.timeline.mark("SIGTERM")
        self.signalled = self.timeline.now()
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0)
        self.expect_sigterm_handled()

    def expect_sigterm_handled(self) -> None:
        __tracebackhide__ = True
        if self.stand_in_got_sigterm:
            fail(
                f"SIGTERM reached the test's stand-in handler, not {self.call()}: the service "
                "does not handle SIGTERM. Outside this test, SIGTERM would have killed the "
                "process on the spot, and every job in flight with it.\n"
                "Likely mistake: no signal handler, or one for SIGINT (Ctrl-C) only, while "
                "`docker stop`, systemd and Kubernetes send SIGTERM.\n"
                "Try: `loop.add_signal_handler(signal.SIGTERM, stop.set)` before you call "
                "ready(), and `await stop.wait()`."
            )

    async def stopped(self) -> Summary:
        """What run_service returns after SIGTERM; it must return within the grace and a bit."""
        assert self.task is not None
        waited = self.grace + scaled(PATIENCE)
        await asyncio.wait({self.task}, timeout=waited)
        if self.task.done():
            self.expect_no_error()
            summary = self.task.result()
            self.returned = self.timeline.now()
            self.timeline.mark("run_service returned")
            if self.outlived:
                left_open = await self.open_connections()
                fail(
                    f"{self.call()} returned while {len(self.outlived)} task(s) it had started "
                    f"were still running: {', '.join(f'{n}()' for n in self.outlived)}. "
                    "Whoever awaits run_service (asyncio.run, a supervisor) goes on, or closes "
                    "the loop, under them.\n"
                    + (
                        f"{left_open} client connection(s) were still open when it returned: "
                        "the service left them open, and their handlers wait on them for a next "
                        "line (server.close() stops accepting, but does not close the "
                        "connections it already has).\n"
                        "Expected: every client's connection closed on the signal, and its "
                        "handler ended, before run_service returns.\n"
                        "Try: keep the writers of the connections in a set, and close each one "
                        "when the signal comes.\n\n"
                        if left_open
                        else "Expected: nothing the service started outlives it: the workers, "
                        "and the connection handlers too.\n"
                        "Try: start the workers in a TaskGroup; close every client's "
                        "connection, and wait for its handler to end, before you return.\n\n"
                    )
                    + self.timeline.draw()
                )
            return summary
        cancelled = [s.label for s in self.timeline.spans if s.cancelled]
        running = [s.label for s in self.timeline.spans if s.end is None]
        if cancelled:
            mistake = (
                f"The deadline did cancel {', '.join(cancelled)}, yet the service never "
                "ended: a worker swallowed the CancelledError and went on (an `except "
                "asyncio.CancelledError:` without `raise`), so the task group waits for it "
                "forever.\n"
                "Try: whatever you do when a job is cancelled, end that `except` with `raise`."
            )
        elif not running and (left_open := await self.open_connections()):
            mistake = (
                f"No job was running, but {left_open} client connection(s) were still open: "
                "the service left them open (server.close() stops accepting, but does not close "
                "the connections it already has), and server.wait_closed() waits until every "
                "connection is closed (Python 3.12+), so it never returned.\n"
                "Try: keep the writers of the connections in a set, and close each one when the "
                "signal comes."
            )
        else:
            mistake = (
                f"Still running: {', '.join(running) or 'no job'}. The service waits for its "
                "jobs with no deadline: a job that takes 10 s keeps it alive for 10 s, and a "
                "stuck one forever (then the orchestrator kills it with SIGKILL).\n"
                "Try: `async with asyncio.timeout(grace): await queue.join()`, then cancel the "
                "workers."
            )
        fail(
            f"{self.call()} was still running {waited:.2f} s after SIGTERM, past its grace of "
            f"{self.grace:.2f} s.\n{mistake}\n\n{self.timeline.draw()}"
        )

    async def open_connections(self) -> int:
        """How many clients' connections the service has not closed (each gets MARGIN s)."""
        still_open = 0
        for client in self.clients:
            with contextlib.suppress(ConnectionError):  # reset: not open either
                still_open += await patiently(client.reader.read(), MARGIN) is None
        return still_open

    def expect_no_error(self) -> None:
        """run_service ended by raising: say what, and when (a failed job first)."""
        __tracebackhide__ = True
        assert self.task is not None
        if not self.task.done() or self.task.cancelled():
            return
        error = self.task.exception()
        if error is None or isinstance(error, NotImplementedError):
            return
        first = error
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        failed = [s.label for s in self.timeline.spans if s.error is not None]
        when = f"{self.ended - self.signalled:.2f} s after SIGTERM" if self.signalled else ""
        fail(
            f"{self.call()} raised {type(error).__name__} ({type(first).__name__}: {first})"
            + (f" {when}" if when else ", before it was sent SIGTERM")
            + (
                f", once {failed[0]} had raised it: a job that fails must not stop the service "
                "(nor, through the task group, every other job with it).\n"
                "Expected: the job reported in Summary.failed, and its worker on to the next.\n"
                "Try: `except Exception:` around `await job(name)` in the worker (after the "
                "`except asyncio.CancelledError:`), noting the name in `summary.failed`."
                if failed and isinstance(first, JobFailed)
                else "."
            )
            + f"\n\n{self.timeline.draw()}"
        )

    async def terminate_while_idle(self) -> None:
        """SIGTERM from another thread, IDLE s (scaled) later, while the test waits and the
        loop sleeps with nothing to do: as `docker stop` sends it to a service between two
        clients."""
        handler = signal.getsignal(signal.SIGTERM)
        self.handler = getattr(handler, "__qualname__", repr(handler))
        self.handler_module = getattr(handler, "__module__", "") or ""

        def send() -> None:
            self.timeline.mark("SIGTERM")
            self.signalled = self.timeline.now()
            os.kill(os.getpid(), signal.SIGTERM)

        sender = threading.Timer(scaled(IDLE), send)
        sender.start()
        try:
            assert self.task is not None
            await asyncio.wait({self.task}, timeout=scaled(IDLE + 1.0))
        finally:
            sender.join()

    async def stop(self) -> None:
        """Whatever the test saw: hang up, stop the service if it still runs."""
        for client in self.clients:
            await client.hang_up()
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.wait({self.task}, timeout=scaled(1.0))


class Client:
    def __init__(
        self, service: Service, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.service, self.reader, self.writer = service, reader, writer

    async def submit(self, *names: str) -> None:
        for name in names:
            self.writer.write(f"{name}\n".encode())
            await self.writer.drain()
            answer = await patiently(self.reader.readline(), PATIENCE)
            sent, expected = f"{name}\n".encode(), f"queued {name}\n".encode()
            if answer == expected:
                self.service.accepted.append(name)
                continue
            got = f"nothing within {scaled(PATIENCE):.2f} s" if answer is None else repr(answer)
            fail(
                f"The client sent {sent!r} and got {got}; expected "
                f"{expected!r} once the job is on the queue."
            )

    async def hang_up(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@asynccontextmanager
async def running(
    timeline: Timeline, delays: dict[str, float], *, workers: int, grace: float
) -> AsyncIterator[Service]:
    """A service started with a stand-in SIGTERM handler in place; all undone at the end."""
    service = Service(timeline, delays, workers, grace)
    previous = signal.signal(signal.SIGTERM, service.stand_in)
    try:
        with started_tasks() as service.started:
            await service.start()
            yield service
    finally:
        await service.stop()
        asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous)


def expect_every_job(
    summary: Summary,
    service: Service,
    finished: list[str],
    cancelled: set[str],
    failed: list[str] | None = None,
) -> None:
    __tracebackhide__ = True
    failed = failed or []
    accounted = summary.finished + summary.cancelled + summary.failed
    missing = [name for name in service.accepted if name not in accounted]
    call = f"{service.call()} returned {summary}"
    expected = f"Expected: finished {finished}, cancelled {sorted(cancelled)}, failed {failed}."
    spans = {name: service.timeline.find(f"job {name}") for name in missing}
    raised = [(name, span.error) for name, span in spans.items() if span and span.error]
    if raised:
        name, error = raised[0]
        fail(
            f"{call}: job({name!r}) raised {error!r}, and the summary has "
            "it in no list, as if it had never been sent.\n"
            f"{expected}\n"
            "Try: note it in `summary.failed` in the worker's `except Exception:`.\n\n"
            + service.timeline.draw()
        )
    if missing:
        never = [name for name, span in spans.items() if span is None]
        fail(
            f"{call}: the jobs {missing} were accepted (the client got 'queued ...') and are in "
            "no list: lost, as if they had never been sent"
            + (f"; {never} never started" if never else "")
            + f".\n{expected}\n"
            + (
                "Likely mistake: workers that leave once their current job is done, leaving the "
                "queue full, or jobs still waiting in the queue at the deadline forgotten.\n"
                "Try: wait for the queue itself (`await queue.join()`) within the grace, and "
                "after the deadline move what is left in the queue to `cancelled`.\n\n"
                if never
                else "\n"
            )
            + service.timeline.draw()
        )
    if (
        summary.finished != finished
        or set(summary.cancelled) != cancelled
        or summary.failed != failed
    ):
        fail(f"{call}; {expected} (finished in the order they ended)\n\n{service.timeline.draw()}")
