from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar, cast

import pytest
import task_group
from harness import MARGIN, Timeline, cancel_midway, fail, scaled, task_origins
from task_group import Booking, PaymentDeclined, SoldOut

E = TypeVar("E", bound=BaseException)

DELAYS = {"flight": 0.3, "hotel": 0.1, "car": 0.2}  # seconds each booking takes
CONFIRMATIONS = {"flight": "AF 1234", "hotel": "Ritz #12", "car": "Fiat 500"}
TRIP = "book_trip(flight 0.3 s, hotel 0.1 s, car 0.2 s)"
EXPLAIN = "book_trip_or_explain(flight, hotel, car)"


async def test_book_trip_returns_every_confirmation(timeline: Timeline) -> None:
    confirmations = await task_group.book_trip(trip(timeline))
    again = [f"{name} {timeline.started.count(name)} times" for name in DELAYS]
    if any(timeline.started.count(name) != 1 for name in DELAYS):
        fail(
            f"{TRIP} booked {', '.join(again)}, expected each service once: a second booking "
            "of the same flight is a second ticket.\n"
            "Try: one tg.create_task(book()) per service.\n\n" + timeline.draw()
        )
    if confirmations != CONFIRMATIONS:
        tasks = [k for k, v in confirmations.items() if isinstance(v, asyncio.Task)]
        fail(
            f"{TRIP} returned {confirmations!r}, expected {CONFIRMATIONS!r}: each service's "
            "name with the confirmation its booking returned.\n"
            + (
                f"The value of {', '.join(tasks)} is a task, not its result: once the "
                "TaskGroup block is over, every task is done: read each one's task.result()."
                if tasks
                else "Try: {name: task.result() for name, task in tasks.items()} after the "
                "TaskGroup block."
            )
        )


async def test_the_three_bookings_run_at_the_same_time(timeline: Timeline) -> None:
    with timeline.expect_duration(
        max(DELAYS.values()),
        delays=tuple(DELAYS.values()),
        what=TRIP,
        advice="create the three bookings as tasks in one `async with asyncio.TaskGroup() as tg:` "
        "block, so they all run at once; the block ends when the last one is done.",
    ):
        await task_group.book_trip(trip(timeline))
    timeline.expect_all_started_before_any_finished("book_trip's three bookings")


async def test_a_failed_booking_cancels_the_bookings_still_running(timeline: Timeline) -> None:
    origins: dict[asyncio.Task[Any], str] = {}
    raised_at = await book_a_trip_whose_hotel_is_sold_out(timeline, origins)
    others = [s for s in timeline.spans if s.label in ("flight", "car")]
    running = [s for s in others if s.end is None]
    finished = [s for s in others if s.end is not None and not s.cancelled]
    if not running and not finished:
        return  # both cancelled, and done cancelling before the error reached the caller
    for _ in range(2):  # let a cancellation that was requested (but not waited for) land
        await asyncio.sleep(0)
    late = running or finished
    names = " and ".join(s.label for s in late)
    were, them = ("was", "it") if len(late) == 1 else ("were", "them")
    if finished and not running and all((s.end or 0) <= raised_at for s in finished):
        hotel = timeline.span("hotel")
        mistake = (
            f"{names} {were} not cancelled: book_trip let {them} run to the end, and raised "
            f"the hotel's SoldOut only once {'it was' if len(late) == 1 else 'they were'} done "
            f"(at {timeline.drawn(raised_at):.2f} s), although the trip had already failed "
            f"when the hotel was sold out (at {timeline.drawn(hotel.end or 0):.2f} s)."
        )
    elif finished:
        mistake = (
            f"{names} {were} not cancelled: book_trip let {them} run to the end although the "
            "trip had already failed when the hotel was sold out."
        )
    elif all(s.cancelled for s in running):
        mistake = (
            f"{names} {were} cancelled, but book_trip did not wait for the cancellation to "
            "finish: the error reached the caller before their cleanup had run."
        )
    else:
        kinds = {origins.get(s.task) for s in running if s.task is not None}
        seen = (
            f" {'They' if len(running) > 1 else 'It'} ran in tasks started by asyncio.gather, "
            "which passes the first error on and leaves the other tasks running."
            if kinds == {"asyncio.gather"}
            else ""
        )
        mistake = (
            f"{names} {were} still running when the error reached the caller: nobody cancelled "
            f"{them}, so the bookings go on behind the caller's back.{seen}"
        )
    fail(
        f"{TRIP} with the hotel sold out after 0.1 s: {mistake}\n"
        "Expected: the flight and the car cancelled, and done cancelling, by the time "
        "book_trip raises.\n"
        "Try: create the bookings in `async with asyncio.TaskGroup() as tg:`: when one task "
        "fails, the group cancels the others and waits for them before it raises.\n\n"
        + timeline.draw()
    )


async def test_the_failure_reaches_the_caller_when_it_happens_not_at_the_end(
    timeline: Timeline,
) -> None:
    origins: dict[asyncio.Task[Any], str] = {}
    started = timeline.now()
    took = await book_a_trip_whose_hotel_is_sold_out(timeline, origins) - started
    hotel, limit = scaled(DELAYS["hotel"]), scaled(DELAYS["hotel"] + MARGIN)
    if took <= limit:
        return
    finished = [s for s in timeline.spans if s.label != "hotel" and s.end and not s.cancelled]
    kinds = {origins.get(s.task) for s in finished if s.task is not None}
    if timeline.peak == 1:
        seen = "the bookings ran one at a time, so the hotel's turn came late."
    elif finished:
        names = " and ".join(s.label for s in finished)
        seen = f"{names} ran to the end, and only then did book_trip pass on the error" + (
            ": asyncio.gather started them, and it waited for every booking."
            if kinds == {"asyncio.gather"}
            else "."
        )
    else:
        seen = "the error came late, although no other booking ran to its end."
    fail(
        f"{TRIP} with the hotel sold out after {hotel:.2f} s raised its SoldOut only after "
        f"{took:.2f} s (the flight alone takes {scaled(DELAYS['flight']):.2f} s).\n"
        f"Seen: {seen}\n"
        f"Expected: the error by {limit:.2f} s, right when the hotel fails.\n"
        "Try: an asyncio.TaskGroup: the first failure cancels the others and raises at once.\n\n"
        + timeline.draw()
    )


async def test_a_trip_with_everything_booked_says_booked(
    timeline: Timeline, explain: Explain
) -> None:
    said = await explain(trip(timeline))
    expected = "booked: " + ", ".join(CONFIRMATIONS.values())
    expect_said(
        said,
        expected,
        "When every booking succeeds: 'booked: ' and the confirmations, in the order of the "
        "services, joined by ', '. Try: an `else:` clause after your except* clauses.",
        timeline,
    )


async def test_a_sold_out_hotel_is_explained(timeline: Timeline, explain: Explain) -> None:
    services = trip(timeline, {"hotel": SoldOut("hotel")}, at_once=True)
    said = await explain(services)
    expect_said(
        said,
        "sold out: hotel",
        "The hotel raised SoldOut('hotel'); book_trip passes it on inside an ExceptionGroup.\n"
        "Try: `except* SoldOut as group:` and name the service of each error in "
        "group.exceptions.",
        timeline,
    )


async def test_every_sold_out_service_is_named(timeline: Timeline, explain: Explain) -> None:
    services = trip(timeline, {"hotel": SoldOut("hotel"), "car": SoldOut("car")}, at_once=True)
    said = await explain(services)
    named = [name for name in ("car", "hotel") if name in said]
    group = explain.groups[-1] if explain.groups else None
    if len(named) == 2:
        seen = "Seen: both are named, but the names are not sorted (car comes before hotel).\n"
    elif len(named) == 1 and group is not None and not group.split_by:
        seen = (
            f"Seen: no except* clause split the group: book_trip_or_explain caught it whole "
            f"(as `except ExceptionGroup` does) and explained the {named[0]} alone, one error "
            "of the two it held.\n"
        )
    elif len(named) == 1:
        seen = f"Seen: only the {named[0]} is named, one of the two.\n"
    else:
        seen = ""
    expect_said(
        said,
        "sold out: car, hotel",
        "The hotel and the car were both sold out, at once: the ExceptionGroup holds two "
        "SoldOut errors, and `except* SoldOut as group:` runs once, with both of them in "
        f"`group`.\n{seen}"
        "Try: the services of every SoldOut in group.exceptions, sorted, joined by ', '.",
        timeline,
    )


async def test_cards_declined_twice_are_explained_once(
    timeline: Timeline, explain: Explain
) -> None:
    declined = {"hotel": PaymentDeclined("hotel"), "car": PaymentDeclined("car")}
    said = await explain(trip(timeline, declined, at_once=True))
    expect_said(
        said,
        "payment declined",
        "The hotel and the car rental both had the card declined, at once: however many "
        "PaymentDeclined errors the group holds, the sentence is said once.\n"
        "Try: `except* PaymentDeclined:` runs once for all of them: add the sentence there.",
        timeline,
    )


async def test_a_sold_out_hotel_and_a_declined_card_are_both_explained(
    timeline: Timeline, explain: Explain
) -> None:
    services = trip(
        timeline, {"hotel": SoldOut("hotel"), "car": PaymentDeclined("car")}, at_once=True
    )
    said = await explain(services)
    if set(said.split("; ")) == {"sold out: hotel", "payment declined"}:
        return  # in either order
    expect_said(
        said,
        "sold out: hotel; payment declined",
        "The hotel was sold out and the car rental's payment was declined, at once: one "
        "ExceptionGroup holds errors of two types, and each needs its sentence.\n"
        + (
            f"Seen: {said!r} explains one of the two errors the group held.\n"
            if said in ("sold out: hotel", "payment declined")
            else ""
        )
        + "Try: one `except* SoldOut` and one `except* PaymentDeclined` clause; both run. "
        "`return` is not allowed inside except*: collect the sentences in a list and join "
        "them with '; ' after the try statement.",
        timeline,
    )


async def test_an_error_that_is_neither_sold_out_nor_declined_is_not_swallowed(
    timeline: Timeline, explain: Explain
) -> None:
    down = ConnectionError("car rental unreachable")
    services = trip(timeline, {"hotel": SoldOut("hotel"), "car": down}, at_once=True)
    try:
        said = await explain(services)
    except Exception as error:
        if find(error, ConnectionError) is not None:
            return  # it reached the caller, as it should
        raise
    fail(
        f"{EXPLAIN} returned {said!r} although the car rental raised ConnectionError('car "
        "rental unreachable') alongside the hotel's SoldOut: that error was swallowed. "
        "Only SoldOut and PaymentDeclined have an explanation; anything else is a problem the "
        "caller must see.\n"
        "Expected: the ConnectionError propagates (inside an ExceptionGroup).\n"
        "Likely mistake: `except Exception` or `except ExceptionGroup` catches every error, "
        "and a `return` after it drops the ones you did not look at.\n"
        "Try: `except* SoldOut` and `except* PaymentDeclined` only: except* re-raises whatever "
        "no clause matched.\n\n" + timeline.draw()
    )


async def test_a_cancelled_book_trip_leaves_no_booking_running(timeline: Timeline) -> None:
    await cancel_midway(
        task_group.book_trip(trip(timeline)), after=0.05, what=TRIP, timeline=timeline
    )


def trip(
    timeline: Timeline, failing: dict[str, Exception] | None = None, *, at_once: bool = False
) -> dict[str, Booking]:
    """The three bookings as fake work on the timeline (labels: flight, hotel, car).

    A service in `failing` raises its error instead of confirming, after its own delay; with
    `at_once`, the failing services say no together, as soon as all of them have been called,
    so that every error reaches the TaskGroup's ExceptionGroup before it cancels anyone.
    """
    failing = failing or {}
    arrived, all_failing_called = 0, asyncio.Event()

    async def say_no_together(name: str) -> None:
        nonlocal arrived
        with timeline.record(name) as span:
            arrived += 1
            if arrived == len(failing):
                # At the next loop step, all of them wake (this one too) and raise one after
                # another, before the TaskGroup hears of any error: a clock, even 0 s, would
                # not promise that. Never at once: with eager tasks, a booking that fails
                # before its first pause would fail inside create_task().
                asyncio.get_running_loop().call_soon(all_failing_called.set)
            await all_failing_called.wait()
            span.error = failing[name]
            raise failing[name]

    def booking(name: str) -> Booking:
        async def book() -> str:
            if at_once and name in failing:
                await say_no_together(name)
            work = timeline.work(name, DELAYS[name], CONFIRMATIONS[name], error=failing.get(name))
            return str(await work)

        return book

    return {name: booking(name) for name in DELAYS}


def find(error: BaseException, kind: type[E]) -> E | None:
    """`error` itself, or the first error of type `kind` inside it (ExceptionGroups nest)."""
    if isinstance(error, kind):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = find(inner, kind)
            if found is not None:
                return found
    return None


async def book_a_trip_whose_hotel_is_sold_out(
    timeline: Timeline, origins: dict[asyncio.Task[Any], str] | None = None
) -> float:
    """book_trip with the hotel sold out after 0.1 s; when (timeline time) the error arrived.

    `origins`, if given, is filled with the asyncio call that started each booking's task.
    """
    try:
        with task_origins() as started:
            confirmations = await task_group.book_trip(trip(timeline, {"hotel": SoldOut("hotel")}))
    except Exception as error:
        if find(error, SoldOut) is None:
            raise
        return timeline.now()
    finally:
        if origins is not None:
            origins.update(started)
    fail(
        f"{TRIP} returned {confirmations!r} although the hotel raised SoldOut('hotel').\n"
        "Expected: the SoldOut error reaches the caller (inside an ExceptionGroup).\n"
        "Likely mistake: a try/except around the bookings that swallows the error.\n"
        "Try: let the TaskGroup raise; book_trip_or_explain is the one that handles errors.\n\n"
        + timeline.draw()
    )


class Explain:
    """book_trip_or_explain(services), and the ExceptionGroups book_trip raised meanwhile."""

    def __init__(
        self, run: Callable[[dict[str, Booking]], Awaitable[str]], groups: list[SplitWatched]
    ) -> None:
        self.run = run
        self.groups = groups

    def __call__(self, services: dict[str, Booking]) -> Awaitable[str]:
        return self.run(services)


class SplitWatched(ExceptionGroup[Exception]):
    """book_trip's ExceptionGroup, noting what each `except*` clause split it by."""

    def __init__(self, message: str, exceptions: list[Exception]) -> None:
        super().__init__(message, exceptions)
        self.split_by: list[object] = []

    def split(self, condition: Any) -> Any:
        self.split_by.append(condition)
        return super().split(condition)


# Named as the real one, which the learner's code sees and the messages show.
SplitWatched.__name__ = SplitWatched.__qualname__ = "ExceptionGroup"
SplitWatched.__module__ = "builtins"


@pytest.fixture
def explain(timeline: Timeline, monkeypatch: pytest.MonkeyPatch) -> Explain:
    """book_trip_or_explain(services), with book_trip watched so that its mistakes are named."""
    book_trip, bare = task_group.book_trip, []  # bare: trip errors raised outside a group
    groups: list[SplitWatched] = []

    async def watched(services: dict[str, Booking]) -> dict[str, str]:
        try:
            return await book_trip(services)
        except (SoldOut, PaymentDeclined, ConnectionError) as error:
            bare.append(error)
            raise
        except ExceptionGroup as group:  # the same group, watched: does an except* split it?
            seen = SplitWatched(group.message, list(group.exceptions))
            groups.append(seen)
            raise seen.with_traceback(group.__traceback__) from None

    monkeypatch.setattr(task_group, "book_trip", watched)

    async def run(services: dict[str, Booking]) -> str:
        __tracebackhide__ = True
        said, failure = "", None
        try:
            said = await task_group.book_trip_or_explain(services)
        except Exception as error:
            failure = error
        # outside `except`, so a failure below shows only its own explanation
        if bare:
            never = [name for name in DELAYS if name not in timeline.started]
            fail(
                f"{EXPLAIN} relies on book_trip, and book_trip raised {bare[0]!r} on its own, "
                "not inside an ExceptionGroup: when several bookings fail at once, the other "
                "errors are lost"
                + (f" ({' and '.join(never)} never even started)" if never else "")
                + ".\nExpected: book_trip raises every error of the trip together in one "
                "ExceptionGroup, as a TaskGroup does.\nTry: fix book_trip first (its tests come "
                "first in this file).\n\n" + timeline.draw()
            )
        slip = find(failure, AttributeError) if failure else None
        if slip is not None and "ExceptionGroup" in str(slip):
            fail(
                f"{EXPLAIN} raised AttributeError: {slip}.\n"
                "In `except* SoldOut as group:`, `group` is not one SoldOut: it is an "
                "ExceptionGroup holding every SoldOut that happened (there may be several).\n"
                "Expected: the names of the sold-out services, read from each error in the "
                "group.\nTry: `for error in group.exceptions:` and read `error.service`.\n\n"
                + timeline.draw()
            )
        if failure is not None:
            raise failure
        return said

    return Explain(run, groups)


def expect_said(said: str, expected: str, why: str, timeline: Timeline) -> None:
    __tracebackhide__ = True
    if said != expected:
        fail(f"{EXPLAIN} returned {said!r}, expected {expected!r}.\n{why}\n\n{timeline.draw()}")
