import asyncio

import pytest
import shield
from harness import Timeline, scaled

ORDER = "order 42: two teapots"
VALIDATE, COMMIT = 0.1, 0.3  # seconds
CALL = f"handle_request(db, {ORDER!r})"
VALIDATING, COMMITTING = "db.validate(order)", "db.commit(order)"


class FakeDb:
    """validate and commit as fake work on the timeline; the commit records what it saved.

    With `cancel_halfway_through(call, request)` it cancels the request when that call is
    halfway through, from a timer that fires before the call's own: no race with the clock.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.commit_over = asyncio.Event()  # a commit finished, or was cancelled halfway
        self.commits = 0  # commits started
        self.saved: list[str] = []  # orders whose commit finished
        self._cancel: tuple[str, asyncio.Task[str]] | None = None
        self.cancelled_the_request = False

    def cancel_halfway_through(self, call: str, request: asyncio.Task[str]) -> None:
        self._cancel = (call, request)

    def _cancel_request(self, request: asyncio.Task[str]) -> None:
        if not request.done():
            request.cancel()
            self.cancelled_the_request = True
            self.timeline.mark("request cancelled")

    async def _work(self, label: str, delay: float) -> None:
        timer = None
        if self._cancel and self._cancel[0] == label:
            halfway = scaled(delay / 2)
            timer = asyncio.get_running_loop().call_later(
                halfway, self._cancel_request, self._cancel[1]
            )
        try:
            await self.timeline.work(label, delay)
        finally:
            if timer:
                timer.cancel()

    async def validate(self, order: str) -> None:
        await self._work(VALIDATING, VALIDATE)

    async def commit(self, order: str) -> None:
        self.commits += 1
        try:
            await self._work(COMMITTING, COMMIT)
            self.saved.append(order)
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
        pytest.fail(
            f"{CALL} returned {result!r} before {call} was even halfway through: it did not "
            f"wait for it.\nExpected: handle_request awaits {VALIDATING}, then {COMMITTING}, "
            "and returns only once the commit has finished.\n"
            "Try: await the commit (through asyncio.shield) before you return.\n\n"
            + db.timeline.draw(),
            pytrace=False,
        )
    return request


def outcome(request: asyncio.Task[str]) -> str:
    if request.cancelled():
        return "ended cancelled"
    error = request.exception()
    return f"raised {error!r}" if error else f"returned {request.result()!r}"


async def test_a_request_is_validated_then_committed_once_and_saved(timeline: Timeline) -> None:
    db = FakeDb(timeline)
    result = await shield.handle_request(db, ORDER)
    if not db.saved:
        pytest.fail(
            f"{CALL} returned {result!r} before the commit had finished: the client hears "
            "'saved' about an order that is not written yet, and may never be.\n"
            "Expected: the order committed by the time handle_request returns.\n"
            f"Try: await the commit (through asyncio.shield) before you return.\n\n"
            + timeline.draw(),
            pytrace=False,
        )
    if db.commits != 1:
        pytest.fail(
            f"{CALL} started {COMMITTING} {db.commits} times; expected exactly once.\n\n"
            + timeline.draw(),
            pytrace=False,
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
                "it ran inside handle_request without a shield, and cancelling a task cancels "
                "the await it is waiting in"
            )
        else:
            how = (
                "it ran in a task of its own, but handle_request awaited that task without a "
                "shield, and awaiting a task hands the cancellation on to it"
            )
        pytest.fail(
            f"{CALL} was cancelled during the commit, and {COMMITTING} was cancelled halfway "
            f"with it: {how}. The order was lost.\n"
            "Expected: the commit finishing (the order saved) although the request was "
            "cancelled.\nTry: commit = asyncio.create_task(db.commit(order)), then "
            "`await asyncio.shield(commit)`: a cancel then stops your waiting, not the "
            f"commit.\n\n{timeline.draw()}",
            pytrace=False,
        )
    if db.saved != [ORDER] or db.commits != 1:
        pytest.fail(
            f"{CALL} was cancelled during the commit; {COMMITTING} then ran {db.commits} times "
            f"and saved {db.saved}.\nExpected: one commit, saving the order once. A shielded "
            "commit goes on by itself after the cancel: do not start another.\n\n"
            + timeline.draw(),
            pytrace=False,
        )
    left = [task.get_name() for task in asyncio.all_tasks() - before]
    if left:
        pytest.fail(
            f"{CALL} was cancelled during the commit; once the commit had finished, tasks "
            f"were still running: {left}.\nExpected: nothing left once the order is saved.\n"
            "Try: start nothing but the commit task, and hold it only until it is done.",
            pytrace=False,
        )


async def test_a_request_cancelled_mid_commit_still_ends_cancelled(timeline: Timeline) -> None:
    db = FakeDb(timeline)
    request = await cancelled_halfway_through(COMMITTING, db)
    await db.commit_over.wait()
    if not request.cancelled():
        pytest.fail(
            f"{CALL} was cancelled during the commit but {outcome(request)}: it caught the "
            "CancelledError and did not raise it again (it swallowed the cancellation). "
            "Whoever cancelled it (a server whose client hung up, an asyncio.timeout) is told "
            "it completed; a timeout cannot even tell that it fired.\n"
            "Expected: handle_request ends cancelled while the commit finishes on its own: "
            "shield protects the commit, not the request.\n"
            "Try: let the CancelledError from `await asyncio.shield(...)` go on to your caller "
            f"(no try/except around it, or `raise` it again).\n\n{timeline.draw()}",
            pytrace=False,
        )


async def test_a_request_cancelled_during_validation_commits_nothing(timeline: Timeline) -> None:
    db = FakeDb(timeline)
    request = await cancelled_halfway_through(VALIDATING, db)
    if timeline.span(VALIDATING).end is None:
        pytest.fail(
            f"{CALL} was cancelled during the validation, but {VALIDATING} went on running: "
            "the validation was shielded too, so the commit would follow, for a client who is "
            "gone.\nExpected: the validation cancelled with the request, and nothing "
            "committed.\nTry: shield only the commit: `await db.validate(order)` plainly, "
            f"then `await asyncio.shield(...)` around the commit alone.\n\n{timeline.draw()}",
            pytrace=False,
        )
    if db.commits:
        pytest.fail(
            f"{CALL} was cancelled during the validation, yet it started {COMMITTING}: an "
            "order that was never fully validated got written.\nExpected: no commit at all.\n"
            "Try: await the validation first; start the commit only once it has returned."
            f"\n\n{timeline.draw()}",
            pytrace=False,
        )
    if not request.cancelled():
        pytest.fail(
            f"{CALL} was cancelled during the validation but {outcome(request)}.\n"
            "Expected: handle_request ends cancelled.\n"
            "Try: let the CancelledError go on to your caller.\n\n" + timeline.draw(),
            pytrace=False,
        )
