from __future__ import annotations

import asyncio
import logging
import threading
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import pytest
import request_context
from harness import Timeline, cancel_midway, fail, patiently, scaled
from request_context import RequestIdFilter, Step, handle, tag

# Three requests served at once. Each step waits until every request has a step running, and
# each worker thread too, so that their awaits interleave whatever order the loop runs them in.
REQUESTS = ["req-A", "req-B", "req-C"]
# How long a part of a request waits for the others to join it: a guard that a right answer
# never reaches (they all join at once).
PATIENCE = 0.5
# A step that runs until it is cancelled; how far into a request a step fails, or the test
# cancels the request.
LONG, SHORT = 1.0, 0.1
# Where the request's code logs: a handler with RequestIdFilter collects every record.
LOGGER = "request_context.app"
# A context variable of the test's own, set in the test's task before it calls handle():
# wherever it shows, a copy of the caller's context reached.
CALLER: ContextVar[str] = ContextVar("caller")
# Stage 2: the caller's own tag, and the one step 1 adds.
CLIENT = ("client", "10.0.0.7")
USER = ("user", "ada")


async def test_every_record_of_a_request_carries_its_id(app_log: AppLog) -> None:
    CALLER.set("the test")  # shows where a copy of this task's context reaches
    call = "handle('req-1', [step 1, step 2], blocking)"
    results = await handle("req-1", app_log.steps("req-1"), app_log.blocking("req-1"))
    expected = ["req-1: step 1", "req-1: step 2", "req-1: blocking()"]
    if results != expected:
        fail(
            f"{call} returned {results!r}; expected {expected!r}: the steps' results in their "
            "order, then blocking()'s."
        )
    app_log.expect_every_record_kept(call)
    app_log.expect_blocking_in_a_worker_thread(call)
    app_log.expect_own_ids(call)


async def test_a_record_logged_outside_any_request_carries_a_dash(app_log: AppLog) -> None:
    outside = app_log.look("-", "the test", "outside any request")
    app_log.expect_every_record_kept("RequestIdFilter().filter(record)")
    if outside.stamped != "-":
        fail(
            f"A record logged outside any request carried request_id={outside.stamped!r}; "
            "expected '-': no request, no id.\n"
            "Try: stamp request_id.get(), whose default is '-'."
        )


async def test_requests_served_at_once_each_see_their_own_id(app_log: AppLog) -> None:
    CALLER.set("the test")
    everyone = Gate(len(REQUESTS))  # opens once every request has a step running
    async with asyncio.TaskGroup() as tg:
        for rid in REQUESTS:
            steps, blocking = app_log.steps(rid, everyone), app_log.blocking(rid, everyone)
            tg.create_task(handle(rid, steps, blocking))
    calls = ", ".join(f"handle({rid!r}, ...)" for rid in REQUESTS)
    app_log.expect_own_ids(f"{calls}, all at once", read_too=True)


async def test_the_steps_and_blocking_run_at_the_same_time(timeline: Timeline) -> None:
    together = Gate(3)  # opens once the two steps and blocking() are all in flight
    steps = [together.step(timeline, "step 1"), together.step(timeline, "step 2")]
    await handle("req-1", steps, together.blocking(timeline))
    if timeline.peak == 3:
        return
    how = (
        "they ran one after another"
        if timeline.peak == 1
        else "some of them waited for others to end before they started"
    )
    fail(
        f"handle('req-1', [step 1, step 2], blocking): at most {timeline.peak} of its 3 parts "
        f"{'was' if timeline.peak == 1 else 'were'} in flight at a time (each waited up to "
        f"{scaled(PATIENCE):.2f} s for the others to join it): {how}.\n"
        "Expected: the two steps, a task each, and blocking(), in a worker thread, all in "
        "flight together.\n"
        "Try: create a task for each step, and one for asyncio.to_thread(blocking), before you "
        f"await any of them.\n\n{timeline.draw()}"
    )


async def test_the_caller_is_out_of_the_request_once_handle_returns(app_log: AppLog) -> None:
    for rid in ("req-1", "req-2"):  # one task serving two requests in turn, as a connection does
        await handle(rid, app_log.steps(rid), app_log.blocking(rid))
        after = app_log.look("-", "the caller", f"after handle({rid!r}) returned")
        app_log.expect_caller_out_of_the_request(after, rid, "returned")


async def test_a_failed_request_gives_the_caller_its_id_back(
    app_log: AppLog, timeline: Timeline
) -> None:
    steps: list[Step] = [
        lambda: timeline.work("req-1: step 1", SHORT, error=StepFailed("step 1 failed")),
        lambda: timeline.work("req-1: step 2", LONG, "req-1: step 2"),
    ]
    call = "handle('req-1', [step 1, step 2], blocking)"
    try:
        await handle("req-1", steps, app_log.blocking("req-1"))
    except* StepFailed:
        pass
    else:
        fail(
            f"{call} returned, although step 1 raised StepFailed: a request whose step fails "
            f"has failed.\nExpected: the error raised from handle() (TaskGroup's "
            f"ExceptionGroup is fine).\n\n{timeline.draw()}"
        )
    after = app_log.look("-", "the caller", "after handle('req-1') raised")
    app_log.expect_caller_out_of_the_request(after, "req-1", "raised")
    if timeline.span("req-1: step 2").end is None:
        fail(
            f"{call} raised StepFailed when step 1 failed, and step 2 was still running after "
            "handle raised: nothing cancelled it, so it runs on behind the error, for a "
            "request that is over.\n"
            "Expected: once a step fails, the other steps are cancelled, and done, before "
            "handle() raises.\n"
            "Try: run the steps in `async with asyncio.TaskGroup()`: when one raises, it "
            f"cancels the others and waits for them.\n\n{timeline.draw()}"
        )
    timeline.expect_none_ran_on(
        timeline.span("req-1: step 1"),
        call,
        "run the steps in `async with asyncio.TaskGroup()`: when one raises, it cancels the "
        "others and waits for them.",
    )


async def test_a_cancelled_request_stops_its_steps_and_gives_the_caller_its_id_back(
    app_log: AppLog, timeline: Timeline
) -> None:
    steps: list[Step] = [
        lambda: timeline.work("req-1: step 1", LONG, "req-1: step 1"),
        lambda: timeline.work("req-1: step 2", LONG, "req-1: step 2"),
    ]
    seen_after: list[Seen] = []

    async def caller() -> None:
        try:
            await handle("req-1", steps, app_log.blocking("req-1"))
        finally:
            seen_after.append(app_log.look("-", "the caller", "after handle() was cancelled"))

    await cancel_midway(caller(), SHORT, "handle('req-1', [step 1, step 2], blocking)", timeline)
    app_log.expect_caller_out_of_the_request(seen_after[0], "req-1", "was cancelled")


@pytest.mark.stage(2)
async def test_a_tag_added_in_a_step_stays_in_that_step(app_log: AppLog) -> None:
    untagged = app_log.look("-", "the caller", "before any tag")
    tag(*CLIENT)  # the caller's own tag: the connection's client, say
    tagged = Gate(1)  # opens once step 1 has added its tag
    steps = [app_log.tagging_step("req-1", tagged), app_log.step_after("req-1", tagged)]
    await handle("req-1", steps, app_log.blocking("req-1", tagged))
    after = app_log.look("-", "the caller", "after handle('req-1') returned")
    app_log.expect_tags(untagged, {})
    step_1 = app_log.part("step 1")
    app_log.expect_tags(step_1, dict([CLIENT, USER]), tagged_here=True)
    for sibling in (app_log.part("step 2"), app_log.part("blocking()"), after):
        app_log.expect_tags(sibling, dict([CLIENT]), tagger=step_1)


@pytest.mark.stage(2)
async def test_a_tag_reaches_the_tasks_and_threads_its_step_starts(app_log: AppLog) -> None:
    await handle("req-1", [app_log.step_that_starts_more("req-1")], app_log.blocking("req-1"))
    for started in (app_log.part("a task"), app_log.part("a thread")):
        app_log.expect_tags(started, dict([USER]))
        if started.stamped != "req-1":
            fail(
                f"{started.where}: its record had request_id={started.stamped!r}; expected "
                "'req-1': what a step starts is part of its request."
            )


class StepFailed(Exception):
    """What step 1 of a failing request raises."""


@dataclass
class Seen:
    """What one part of a request saw where it ran, and the log record it wrote there."""

    request: str  # the request the part belongs to ("-": none)
    part: str  # "step 1", "blocking()", "the caller"
    note: str  # when it looked: "once every request had started"
    value: object  # request_id.get() there
    caller: bool  # the test's own context variable (CALLER) reached there
    on_loop: bool  # it ran on the event loop's thread
    task: asyncio.Task[object] | None  # the task it ran in (None: a worker thread)
    tags: object  # stage 2: tags.get() there (the object itself)
    record: logging.LogRecord | None = None  # what the handler kept (None: dropped)
    error: Exception | None = None  # what the logging call raised

    @property
    def where(self) -> str:
        """The part as the messages name it: "req-A step 1, once every request had started"."""
        named = self.part if self.request == "-" else f"{self.request} {self.part}"
        return f"{named}, {self.note}" if self.note else named

    @property
    def stamped(self) -> object:
        return getattr(self.record, "request_id", "(no request_id)")

    @property
    def stamped_tags(self) -> object:
        return getattr(self.record, "tags", "(no tags)")


class AppLog(logging.Handler):
    """The log the parts of a request write to: every record goes through RequestIdFilter, and
    each part notes what it saw (`look`)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.stamp = RequestIdFilter()
        self.addFilter(self.stamp)
        self.kept: dict[str, logging.LogRecord] = {}
        self.seen: list[Seen] = []
        self.loop_thread = threading.get_ident()
        self.logger = logging.getLogger(LOGGER)

    def emit(self, record: logging.LogRecord) -> None:
        self.kept[record.getMessage()] = record

    @contextmanager
    def installed(self) -> Iterator[AppLog]:
        level, propagate = self.logger.level, self.logger.propagate
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.logger.addHandler(self)
        try:
            yield self
        finally:
            self.logger.removeHandler(self)
            self.logger.setLevel(level)
            self.logger.propagate = propagate

    def look(self, request: str, part: str, note: str = "") -> Seen:
        """Note what this part of a request sees, and log a record from it."""
        on_loop = threading.get_ident() == self.loop_thread
        seen = Seen(
            request,
            part,
            note,
            request_context.request_id.get(),
            CALLER.get(None) is not None,
            on_loop,
            asyncio.current_task() if on_loop else None,
            request_context.tags.get(None),
        )
        try:
            self.logger.info(seen.where)
        except NotImplementedError:
            raise  # the stub: its message says what to write
        except Exception as error:
            seen.error = error  # reported by the test, once the request is over
        seen.record = self.kept.get(seen.where)
        self.seen.append(seen)
        return seen

    def steps(self, rid: str, everyone: Gate | None = None) -> list[Step]:
        return [self.step(rid, 1, everyone), self.step(rid, 2, everyone)]

    def step(self, rid: str, n: int, everyone: Gate | None) -> Step:
        async def step() -> str:
            self.look(rid, f"step {n}")
            if everyone is not None:
                everyone.arrive(rid)
                await everyone.wait()
                self.look(rid, f"step {n}", "once every request had started")
            return f"{rid}: step {n}"

        return step

    def blocking(self, rid: str, gate: Gate | None = None) -> Callable[[], str]:
        def blocking() -> str:
            if gate is not None:
                gate.wait_in_thread()
            self.look(rid, "blocking()")
            return f"{rid}: blocking()"

        return blocking

    def tagging_step(self, rid: str, tagged: Gate) -> Step:
        async def step() -> str:
            tag(*USER)
            self.look(rid, "step 1", f"after tag{USER!r}")
            tagged.arrive("step 1")
            return f"{rid}: step 1"

        return step

    def step_after(self, rid: str, tagged: Gate) -> Step:
        async def step() -> str:
            await tagged.wait()
            self.look(rid, "step 2", "once step 1 had added its tag")
            return f"{rid}: step 2"

        return step

    def step_that_starts_more(self, rid: str) -> Step:
        async def step() -> str:
            tag(*USER)
            after = f"started by step 1 after tag{USER!r}"
            await asyncio.create_task(self.look_later(rid, "a task", after))
            await asyncio.to_thread(self.look, rid, "a thread", after)
            return f"{rid}: step 1"

        return step

    async def look_later(self, request: str, part: str, note: str) -> None:
        self.look(request, part, note)

    def part(self, part: str) -> Seen:
        """What the part of that name saw."""
        return next(s for s in self.seen if s.part == part)

    def expect_every_record_kept(self, call: str) -> None:
        __tracebackhide__ = True
        self.expect_logging_never_raised(call)
        dropped = [s for s in self.seen if s.record is None]
        if not dropped:
            return
        record = logging.LogRecord(LOGGER, logging.INFO, __file__, 0, "a record", None, None)
        returned = self.stamp.filter(record)
        fail(
            f"{call}: {len(self.seen)} record(s) were logged, and the handler got "
            f"{len(self.seen) - len(dropped)} of them. RequestIdFilter().filter(record) "
            f"returned {returned!r}: logging keeps a record only when its filters return a "
            f"true value, so {returned!r} drops it.\n"
            "Expected: every record stamped and kept.\n"
            "Try: end filter() with `return True`."
        )

    def expect_logging_never_raised(self, call: str) -> None:
        __tracebackhide__ = True
        seen = next((s for s in self.seen if s.error is not None), None)
        if seen is None or seen.error is None:
            return
        error = seen.error
        inside = [
            f"`{frame.line}` ({Path(frame.filename).name}:{frame.lineno})"
            for frame in traceback.extract_tb(error.__traceback__)
            if frame.filename == request_context.__file__
        ]
        fail(
            f"{call}: logging a record from {seen.where}{',' if seen.note else ''} raised "
            f"{error!r}"
            + (f", at {inside[-1]}" if inside else "")
            + ": an error in a filter comes out of the logging call itself, so a log line "
            "breaks the code that logs it.\n"
            + (
                "ContextVar.get() with no default raises LookupError wherever the variable "
                "was never set.\n"
                if isinstance(error, LookupError)
                else ""
            )
            + "Expected: every record stamped, wherever it is logged, and no error.\n"
            + (
                "Try: give get() a default, the value to stamp where nothing was set."
                if isinstance(error, LookupError)
                else "Try: make filter() work for any record, logged anywhere."
            )
        )

    def expect_blocking_in_a_worker_thread(self, call: str) -> None:
        __tracebackhide__ = True
        if any(s.on_loop for s in self.seen if s.where.endswith("blocking()")):
            fail(
                f"{call}: blocking() ran on the event loop's thread: while it blocks, no task "
                "runs, and no other request is served.\n"
                "Expected: blocking() in a worker thread, while the steps run.\n"
                "Try: asyncio.to_thread(blocking), in a task next to the steps'."
            )

    def expect_own_ids(self, call: str, read_too: bool = False) -> None:
        """Every part of a request saw its own request's id: in its records (and, with
        `read_too`, with request_id.get() as well)."""
        __tracebackhide__ = True
        self.expect_every_record_kept(call)
        self.expect_request_id_stamped(call)
        seen = sorted((s for s in self.seen if s.request != "-"), key=lambda s: s.request)
        wrong = [s for s in seen if s.stamped != s.request or (read_too and s.value != s.request)]
        if not wrong:
            return
        mistake, advice = diagnosis(seen)
        expected = "from request_id.get() and on its record" if read_too else "on every record"
        fail(
            f"{call}: what each part saw, with request_id.get() and in its log record:\n"
            f"{table(seen, read_too)}\n"
            f"Expected: the id of its own request, {expected}.\n"
            f"{mistake}\nTry: {advice}"
        )

    def expect_request_id_stamped(self, call: str) -> None:
        """Every record has a request_id, a str."""
        __tracebackhide__ = True
        bare = next((s for s in self.seen if not hasattr(s.record, "request_id")), None)
        if bare is not None:
            fail(
                f"{call}: the record of {bare.where} had no request_id: RequestIdFilter "
                "did not set it.\n"
                "Try: record.request_id = request_id.get(), in filter()."
            )
        odd = next((s for s in self.seen if not isinstance(s.stamped, str)), None)
        if odd is not None:
            fail(
                f"{call}: the record of {odd.where} had request_id={odd.stamped!r}: the "
                "context variable itself, not its value where the record was logged.\n"
                "Try: record.request_id = request_id.get()."
            )

    def expect_caller_out_of_the_request(self, after: Seen, rid: str, how: str) -> None:
        __tracebackhide__ = True
        self.expect_every_record_kept(f"handle({rid!r}, ...)")
        self.expect_request_id_stamped(f"handle({rid!r}, ...)")
        if after.value == "-" and after.stamped == "-":
            return
        mistake = (
            f"The id was still set after handle {how}: handle() runs in its caller's task, so "
            "what it sets with request_id.set() stays in the caller's context until it is "
            "reset, and the caller's next request (the next one on the same connection) logs "
            f"under {rid!r} until it sets its own.\n"
            + (
                "The reset must happen on every way out of handle(), an error or a "
                "cancellation too.\n"
                if how != "returned"
                else ""
            )
            if after.value == rid
            else ""
        )
        fail(
            f"handle({rid!r}, ...) {how}; then, in the caller: request_id.get() returned "
            f"{after.value!r} and its log record carried {after.stamped!r}.\n"
            "Expected: '-' in both: the caller is not part of the request.\n"
            f"{mistake}"
            "Try: `token = request_id.set(rid)` and, in a `finally:`, `request_id.reset(token)`."
        )

    def expect_tags(
        self,
        seen: Seen,
        expected: dict[str, str],
        tagged_here: bool = False,
        tagger: Seen | None = None,
    ) -> None:
        """Stage 2: the record of this part carried exactly these tags."""
        __tracebackhide__ = True
        self.expect_every_record_kept("handle('req-1', ...)")
        got = seen.stamped_tags
        if got == expected:
            return
        if not hasattr(seen.record, "tags"):
            fail(
                f"{seen.where}: its record had no tags: RequestIdFilter does not set "
                f"record.tags (yet).\nExpected: {expected!r}, the tags in effect where the "
                "record was logged.\n"
                "Try: in filter(), set record.tags too, from `tags` ({} where none was set)."
            )
        said = f"{seen.where}: its record carried tags={got!r}; expected {expected!r}"
        if tagged_here and set(got) == {USER[0]}:
            fail(
                f"{said}: tag() replaced the tags the step had inherited from its caller "
                f"({CLIENT[0]}) instead of adding to them.\n"
                "Try: set a new dict that holds the tags in effect, and the new one."
            )
        if tagger is not None and USER[0] in got and seen.task is tagger.task:
            fail(
                f"{said}: the tag that step 1 added showed up in {seen.part} too, though "
                f"{seen.part} never called tag(). Both ran in the same task, one after the "
                "other (step 1 was awaited, not started as a task of its own), so they share "
                "one context: what step 1 sets, whatever comes after it in that task sees.\n"
                "Expected: each step in a task of its own.\n"
                "Try: start every step as a task (a TaskGroup), so that each has its own copy "
                "of the context."
            )
        if tagger is not None and USER[0] in got and seen.tags is tagger.tags:
            fail(
                f"{said}: the tag that step 1 added showed up in {seen.part} too, though "
                f"{seen.part} never called tag(). There, tags.get() returned the very same "
                "dict object as in step 1: a task's context is a copy that holds the same "
                "objects as its parent's, so tag() changed in place the dict that the caller, "
                "step 1 and everything they started all share.\n"
                "Expected: a tag holds in the task that adds it, and in what it starts after.\n"
                "Try: leave the dict you get from tags.get() as it is, and set a new one that "
                "holds its tags and the new one."
            )
        fail(f"{said}.")


class Gate:
    """Opens once `count` different parts have arrived; parts wait on it in tasks or threads
    (each at most PATIENCE, a guard a right answer never reaches)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.arrived: set[str] = set()
        self.lock = threading.Lock()
        self.opened = asyncio.Event()
        self.opened_for_threads = threading.Event()
        self.loop = asyncio.get_running_loop()

    def arrive(self, who: str) -> None:
        with self.lock:
            self.arrived.add(who)
            full = len(self.arrived) == self.count
        if full:
            self.opened_for_threads.set()
            self.loop.call_soon_threadsafe(self.opened.set)

    async def wait(self) -> None:
        await patiently(self.opened.wait(), PATIENCE)

    def wait_in_thread(self) -> None:
        self.opened_for_threads.wait(scaled(PATIENCE))

    def step(self, timeline: Timeline, label: str) -> Step:
        async def step() -> str:
            with timeline.record(label):
                self.arrive(label)
                await self.wait()
            return label

        return step

    def blocking(self, timeline: Timeline) -> Callable[[], str]:
        def blocking() -> str:
            with timeline.record("blocking()"):
                self.arrive("blocking()")
                self.wait_in_thread()
            return "blocking()"

        return blocking


@pytest.fixture
def app_log() -> Iterator[AppLog]:
    """The request's logger, with a handler that stamps each record with RequestIdFilter."""
    with AppLog().installed() as log:
        yield log


def diagnosis(seen: list[Seen]) -> tuple[str, str]:
    """What went wrong, as far as what the parts saw shows it; and what to try."""
    steps = [s for s in seen if s.on_loop]
    threads = [s for s in seen if not s.on_loop]
    wrong_steps = [s for s in steps if s.stamped != s.request]
    wrong_threads = [s for s in threads if s.stamped != s.request]
    misstamped = [s for s in seen if s.value == s.request and s.stamped != s.request]
    foreign = [s for s in seen if s.stamped in REQUESTS and s.stamped != s.request]
    if misstamped:
        kept = {repr(s.stamped) for s in seen}
        return (
            (
                f"The filter stamped {kept.pop()} on every record, although request_id.get() "
                "returned the request's id where the record was logged: it stamps a value it "
                "kept (read once, when the filter was made), not request_id's at each record."
                if len(kept) == 1
                else "The filter stamped a value other than request_id.get() where the record "
                "was logged."
            ),
            "in filter(), record.request_id = request_id.get(): filter() runs where the record "
            "is logged, in the context of the code that logs it.",
        )
    if foreign and all(s.value == "-" for s in foreign):
        most = Counter(str(s.stamped) for s in foreign).most_common(1)[0][0]
        return (
            "Records of one request carried another request's id, and request_id.get() "
            "returned '-' there: the id was kept, not in request_id, but in one place that all "
            "the requests share (a module-level variable, say). Each request that started "
            f"overwrote the id of the one before; {most!r} is on most of the wrong records.",
            "keep the id in request_id (request_id.set(rid) in handle()), and let the filter "
            "stamp request_id.get(): every task runs in a context of its own, so requests "
            "served at once never see each other's.",
        )
    if wrong_steps and threads and not wrong_threads:
        return (
            "The steps, a task each, ran without the id, and the worker thread, started after "
            "them, had it: the tasks were created before the id was set. A task runs in a "
            "copy of the context as it was when the task was created; what is set afterwards "
            "does not reach it.",
            "set request_id first, then create the tasks.",
        )
    if wrong_threads and not wrong_steps:
        thread = wrong_threads[0]
        if not thread.caller:
            return (
                "The worker thread ran outside the request's context: not even the test's own "
                "context variables, set before it called handle(), reached it. "
                "loop.run_in_executor() and executor.submit() run a function in a thread as "
                "it is, with no context.",
                "asyncio.to_thread(blocking): it runs blocking() in a copy of the current context.",
            )
        if any(s.value != s.request for s in steps):
            return (
                "The steps' records carried the id, although request_id.get() returned '-' in "
                "them, and the worker thread's did not: the id is kept per thread (a "
                "threading.local, say), not in request_id. Every task runs in the loop's one "
                "thread, where it was set; a worker thread has a threading.local of its own, "
                "empty.",
                "keep the id in request_id, a context variable: asyncio.to_thread() copies the "
                "context into the worker thread.",
            )
        return (
            "The worker thread ran in a copy of handle()'s context (the test's own context "
            "variables reached it), but request_id was not set in it, although the steps had "
            "it: the id was set inside each step's task only, and what a task sets stays in "
            "that task.",
            "set request_id once, in handle() itself, before you start the steps and the thread.",
        )
    return (
        "The id did not reach every part of the request.",
        "request_id.set(rid) in handle() before you start anything; the tasks and "
        "asyncio.to_thread() copy the context, with the id in it.",
    )


def table(seen: list[Seen], read_too: bool) -> str:
    """One row per part: what request_id.get() returned there, and what its record carried."""
    places = [s.where + ("" if s.on_loop else " [worker thread]") for s in seen]
    width = max(map(len, places)) + 2
    rows = [f"  {'':<{width}}{'request_id.get()':<18}record.request_id"]
    for place, s in zip(places, seen, strict=True):
        stamped = repr(s.stamped) if s.record is not None else "(no record)"
        right = s.stamped == s.request and (s.value == s.request or not read_too)
        wrong = "" if right else f"   <- expected {s.request!r}"
        rows.append(f"  {place:<{width}}{s.value!r:<18}{stamped}{wrong}")
    return "\n".join(rows)
