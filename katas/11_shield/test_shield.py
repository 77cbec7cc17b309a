from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import shield
from harness import Timeline, collect_garbage, fail, outcome, patiently, scaled, settle

ORDER = "order 42: two teapots"
VALIDATE, COMMIT = 0.1, 0.3  # seconds
CALL = f"handle_request(db, {ORDER!r})"
VALIDATING, COMMITTING = "db.validate(order)", "db.commit(order)"


async def test_a_request_is_validated_then_committed_once_and_saved(timeline: Timeline) -> None:
    db = FakeDb(timeline)
    result = await shield.handle_request(db, ORDER)
    if not db.saved:
        fail(
            f"{CALL} returned {result!r} before the commit had finished: the client hears "
            "'saved' about an order that is not written yet, and may never be.\n"
            "Expected: the order committed by the time handle_request returns.\n"
            f"Try: await the commit (through asyncio.shield) before you return.\n\n"
            + timeline.draw()
        )
    if db.commits != 1:
        fail(
            f"{CALL} started {COMMITTING} {db.commits} times; expected exactly once.\n\n"
            + timeline.draw()
        )
    assert result == "saved", f"{CALL} returned {result!r}, expected 'saved'."
    timeline.expect_one_after_another("the commit, which may write only a validated order,")


async def test_a_request_cancelled_mid_commit_still_commits_the_order(timeline: Timeline) -> None:
    db = FakeDb(timeline)
    before = asyncio.all_tasks()
    request = await cancelled_halfway_through(COMMITTING, db)
    await db.commit_over.wait()
    if timeline.span(COMMITTING).cancelled:
        if timeline.span(COMMITTING).task is request:
            how = (
                "it was awaited directly inside handle_request, and cancelling a task cancels "
                "the await it is waiting in"
            )
        else:
            how = (
                "it ran in a task of its own, but handle_request awaited that task without a "
                "shield, and awaiting a task hands the cancellation on to it"
            )
        fail(
            f"{CALL} was cancelled during the commit, and {COMMITTING} was cancelled halfway "
            f"with it: {how}. The order was lost.\n"
            "Expected: the commit finishing (the order saved) although the request was "
            "cancelled.\nTry: commit = asyncio.create_task(db.commit(order)), then "
            "`await asyncio.shield(commit)`: a cancel then stops your waiting, not the "
            f"commit.\n\n{timeline.draw()}"
        )
    if db.saved != [ORDER] or db.commits != 1:
        fail(
            f"{CALL} was cancelled during the commit; {COMMITTING} then ran {db.commits} times "
            f"and saved {db.saved}.\nExpected: one commit, saving the order once. A shielded "
            "commit goes on by itself after the cancel: do not start another.\n\n" + timeline.draw()
        )
    left = [task.get_name() for task in asyncio.all_tasks() - before]
    if left:
        fail(
            f"{CALL} was cancelled during the commit; once the commit had finished, tasks "
            f"were still running: {left}.\nExpected: nothing left once the order is saved.\n"
            "Try: start nothing but the commit task, and hold it only until it is done."
        )


async def test_a_request_cancelled_mid_commit_still_ends_cancelled(timeline: Timeline) -> None:
    db = FakeDb(timeline)
    request = await cancelled_halfway_through(COMMITTING, db)
    waited_for_the_commit = db.commit_over.is_set()  # read as the request ends, no await before
    timeline.mark("handle_request ended")
    await db.commit_over.wait()
    if not request.cancelled():
        fail(
            f"{CALL} was cancelled during the commit but {outcome(request)}: it caught the "
            "CancelledError and did not raise it again (it swallowed the cancellation). "
            "Whoever cancelled it (a server whose client hung up, an asyncio.timeout) is told "
            "it completed; a timeout cannot even tell that it fired.\n"
            "Expected: handle_request ends cancelled while the commit finishes on its own: "
            "shield protects the commit, not the request.\n"
            "Try: let the CancelledError from `await asyncio.shield(...)` go on to your caller "
            f"(no try/except around it, or `raise` it again).\n\n{timeline.draw()}"
        )
    if waited_for_the_commit:
        cancelled, ended = timeline.span("request cancelled"), timeline.span("handle_request ended")
        fail(
            f"{CALL} was cancelled during the commit and ended cancelled, but only once the "
            f"commit had finished, {ended.start - cancelled.start:.2f} s after the cancel: it "
            "waited for the commit before it let the CancelledError go on. Whoever cancelled "
            "it (a server dropping a request, a timeout) waits that long too.\n"
            "Expected: handle_request ends cancelled at once; the shielded commit finishes on "
            "its own.\nTry: let the CancelledError from `await asyncio.shield(...)` go on up "
            f"at once, without awaiting the commit again.\n\n{timeline.draw()}"
        )


async def test_a_request_cancelled_during_validation_commits_nothing(timeline: Timeline) -> None:
    db = FakeDb(timeline)
    request = await cancelled_halfway_through(VALIDATING, db)
    if timeline.span(VALIDATING).end is None:
        fail(
            f"{CALL} was cancelled during the validation, but {VALIDATING} went on running: "
            "the validation was shielded too, so the commit would follow, for a client who is "
            "gone.\nExpected: the validation cancelled with the request, and nothing "
            "committed.\nTry: shield only the commit: `await db.validate(order)` plainly, "
            f"then `await asyncio.shield(...)` around the commit alone.\n\n{timeline.draw()}"
        )
    if db.commits:
        fail(
            f"{CALL} was cancelled during the validation, yet it started {COMMITTING}: an "
            "order that was never fully validated got written.\nExpected: no commit at all.\n"
            "Try: await the validation first; start the commit only once it has returned."
            f"\n\n{timeline.draw()}"
        )
    if not request.cancelled():
        fail(
            f"{CALL} was cancelled during the validation but {outcome(request)}.\n"
            "Expected: handle_request ends cancelled.\n"
            "Try: let the CancelledError go on to your caller.\n\n" + timeline.draw()
        )


async def test_a_commit_that_outlives_its_request_is_kept_until_it_is_done(
    timeline: Timeline,
) -> None:
    db = DiskDb(timeline)
    request = asyncio.Task(shield.handle_request(db, ORDER), name="handle_request")
    await asyncio.wait({request, db.writing}, return_when=asyncio.FIRST_COMPLETED)
    if not db.writing.done():
        fail(
            f"{CALL} {outcome(request)} without starting {COMMITTING}: make "
            "test_a_request_is_validated_then_committed_once_and_saved pass first."
        )
    request.cancel()  # the client hangs up while the commit waits for the disk
    await settle([request], within=1.0)
    if not request.done():
        fail(
            f"{CALL} was cancelled during the commit and was still running "
            f"{scaled(1.0):.1f} s later: make "
            "test_a_request_cancelled_mid_commit_still_ends_cancelled pass first."
        )
    ended = outcome(request)
    # Only the learner's code may keep the commit task: not the request, whose CancelledError
    # holds handle_request's locals, nor the timeline, whose calls note the task they ran in.
    del request
    for span in timeline.spans:
        span.task = None
    timeline.mark("gc.collect()")
    await collect_garbage()  # what nobody holds goes now, pending or not
    write = db.write() if db.write is not None else None
    if db.destroyed:
        fail(
            f"{CALL} was cancelled during the commit and {ended}; then the garbage collector "
            f"ran, and destroyed the commit task while {COMMITTING} was still pending: nothing "
            "held that task any more. The order was lost, with no error anywhere.\n"
            "The event loop keeps only weak references to tasks, and asyncio.shield lets go of "
            "its task once its caller is cancelled: after handle_request has ended, a commit "
            "task it kept only in a local variable goes at the next garbage collection.\n"
            "Expected: the commit kept alive until it is done.\n"
            "Try: keep each commit task in a module-level set until it is done: "
            "`_commits.add(commit)` and `commit.add_done_callback(_commits.discard)`.\n\n"
            + timeline.draw()
        )
    if write is None or db.commit_over.is_set():
        fail(
            f"{CALL} was cancelled during the commit and {ended}, and {COMMITTING} ended with "
            "it: make test_a_request_cancelled_mid_commit_still_commits_the_order pass first."
            f"\n\n{timeline.draw()}"
        )
    write.set_result(None)  # the disk is done
    if await patiently(db.commit_over.wait(), within=1.0) is None or db.saved != [ORDER]:
        fail(f"{COMMITTING} did not save the order once its write was done.\n\n{timeline.draw()}")


async def test_a_failed_commit_fails_the_request(timeline: Timeline) -> None:
    db = FakeDb(timeline, commit_error=OSError("disk full"))
    error: Exception | None = None
    try:
        result = await shield.handle_request(db, ORDER)
    except Exception as raised:
        error = raised
    if isinstance(error, OSError) or (
        isinstance(error, ExceptionGroup) and error.subgroup(OSError) is not None
    ):
        return
    if error is not None:
        fail(f"{CALL} raised {error!r}, expected the commit's OSError('disk full').")
    fail(
        f"{CALL} returned {result!r}, although {COMMITTING} raised OSError('disk full'): the "
        "client hears 'saved' about an order that was never written.\n"
        "Expected: handle_request raises the commit's error: a commit that fails is not "
        "'saved'.\n"
        "Try: `await asyncio.shield(commit)` raises what the commit raised: let that error go "
        "on up.\n\n" + timeline.draw()
    )


async def test_a_commit_that_fails_after_its_request_was_cancelled_is_reported(
    timeline: Timeline, caplog: pytest.LogCaptureFixture
) -> None:
    error = OSError("disk full")
    db = FakeDb(timeline, commit_error=error)
    with reported_by_asyncio(error) as reports:
        request = await cancelled_halfway_through(COMMITTING, db)
        await db.commit_over.wait()
        ended = outcome(request)
        commit = timeline.span(COMMITTING).task
        left = weakref.ref(commit) if commit is not None else None
        # Nothing of the test may keep the commit task: asyncio reports its error once it is gone.
        del request, commit
        for span in timeline.spans:
            span.task = None
        timeline.mark("gc.collect()")
        await collect_garbage()
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and mentions(r, error)]
    if reports or logged:
        return
    if left is not None and left() is not None:
        seen = (
            "the commit task was still held after it had ended (by a list or a dict of your "
            "own?), so asyncio has not reported its error yet, and no log record of yours did."
        )
    else:
        seen = (
            "the commit task is gone and nothing reported its error: neither asyncio (its "
            "'Task exception was never retrieved', said of a failed task nobody awaited when "
            "it is let go) nor a log record of yours. The error was swallowed on the way: "
            "caught inside the commit's task, or read from the task (task.exception(), "
            "task.result()) and dropped."
        )
    fail(
        f"{CALL} was cancelled during the commit and {ended}; then {COMMITTING} failed with "
        f"{error!r}, and {seen}\nThat order was paid for and never written, and nobody will "
        "know.\nExpected: with nobody awaiting the commit any more, its error stays on the "
        "commit task, where asyncio reports it once the task is gone (or your code logs it).\n"
        "Try: leave the commit's error on its task: no `except` around the commit, no "
        "task.exception() in a done callback just to keep asyncio quiet (if you read it "
        f"there, log it).\n\n{timeline.draw()}"
    )


class FakeDb:
    """validate and commit as fake work on the timeline; the commit records what it saved.

    With `cancel_halfway_through(call, request)` it cancels the request when that call is
    halfway through, from a timer that fires before the call's own: no race with the clock.
    """

    def __init__(self, timeline: Timeline, commit_error: Exception | None = None) -> None:
        self.timeline = timeline
        self.commit_error = commit_error  # what the commit raises at its end, if anything
        self.commit_over = asyncio.Event()  # a commit finished, or was cancelled halfway
        self.commits = 0  # commits started
        self.saved: list[str] = []  # orders whose commit finished
        self._cancel: tuple[str, asyncio.Task[str]] | None = None
        self.cancelled_the_request = False

    def cancel_halfway_through(self, call: str, request: asyncio.Task[str]) -> None:
        self._cancel = (call, request)

    def _cancel_request(self, request: asyncio.Task[str]) -> None:
        self._cancel = None  # done with the plan: the request is not kept here any longer
        if not request.done():
            request.cancel()
            self.cancelled_the_request = True
            self.timeline.mark("request cancelled")

    async def _work(self, label: str, delay: float, error: Exception | None = None) -> None:
        timer = None
        if self._cancel and self._cancel[0] == label:
            halfway = scaled(delay / 2)
            timer = asyncio.get_running_loop().call_later(
                halfway, self._cancel_request, self._cancel[1]
            )
        try:
            await self.timeline.work(label, delay, error=error)
        finally:
            if timer:
                timer.cancel()

    async def validate(self, order: str) -> None:
        await self._work(VALIDATING, VALIDATE)

    async def commit(self, order: str) -> None:
        self.commits += 1
        try:
            await self._work(COMMITTING, COMMIT, self.commit_error)
            self.saved.append(order)
        finally:
            self.commit_over.set()


class DiskDb(FakeDb):
    """A db whose commit waits for a disk write that only the commit's own task holds.

    The test completes the write through a weak reference, so a commit task nobody keeps is
    free for the garbage collector, write and all, while it is still pending.
    """

    def __init__(self, timeline: Timeline) -> None:
        super().__init__(timeline)
        self.writing = asyncio.get_running_loop().create_future()  # the commit has begun
        self.write: weakref.ref[asyncio.Future[None]] | None = None
        self.destroyed = False  # the commit's coroutine was closed before its write was done

    async def commit(self, order: str) -> None:
        self.commits += 1
        write = asyncio.get_running_loop().create_future()
        self.write = weakref.ref(write)
        try:
            with self.timeline.record(COMMITTING):
                self.writing.set_result(None)
                await write
            self.saved.append(order)
        except GeneratorExit:
            self.destroyed = True
            raise
        finally:
            self.commit_over.set()


async def cancelled_halfway_through(call: str, db: FakeDb) -> asyncio.Task[str]:
    """Run handle_request, cancel it when `call` is halfway through; wait until it is over."""
    # A plain Task, never eager: the cancel plan must be in place before the request starts.
    request = asyncio.Task(shield.handle_request(db, ORDER), name="handle_request")
    db.cancel_halfway_through(call, request)
    await asyncio.wait({request})
    if not db.cancelled_the_request:
        result = request.result()  # an error raised by handle_request surfaces here
        fail(
            f"{CALL} returned {result!r} before {call} was even halfway through: it did not "
            f"wait for it.\nExpected: handle_request awaits {VALIDATING}, then {COMMITTING}, "
            "and returns only once the commit has finished.\n"
            "Try: await the commit (through asyncio.shield) before you return.\n\n"
            + db.timeline.draw()
        )
    return request


@contextmanager
def reported_by_asyncio(error: BaseException) -> Iterator[list[dict[str, Any]]]:
    """What the event loop's exception handler is told about `error` in this block (asyncio's
    "Task exception was never retrieved", for one); what it is told about anything else goes on
    to the handler as before."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    reports: list[dict[str, Any]] = []

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("exception") is error:
            reports.append(context)
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    try:
        yield reports
    finally:
        loop.set_exception_handler(previous)


def mentions(record: logging.LogRecord, error: BaseException) -> bool:
    """The log record carries `error`, or names it in its message."""
    carried = record.exc_info[1] if record.exc_info else None
    return carried is error or str(error) in record.getMessage()
