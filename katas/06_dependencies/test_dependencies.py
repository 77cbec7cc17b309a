from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar, cast

import dependencies
import pytest
from dependencies import Dashboard, User
from harness import EARLY, MARGIN, Timeline, cancel_midway, fail, scaled, task_origins

T = TypeVar("T")

USER_ID = 7
DELAYS = {"fetch_user": 0.1, "fetch_orders": 0.1, "fetch_news": 0.3, "fetch_weather": 0.2}
ADA = User(id=USER_ID, name="Ada", account="AC-0007")
ORDERS = ["AC-0007/1 teapot", "AC-0007/2 kettle"]
NEWS = ["asyncio 4.0 released", "local dojo hits 1,000 katas"]
WEATHER = "sunny, 21 °C"


async def test_the_dashboard_holds_the_user_their_orders_the_news_and_the_weather(
    timeline: Timeline,
) -> None:
    dashboard = await build(FakeApi(timeline))
    expected = Dashboard(ADA, ORDERS, NEWS, WEATHER)
    if dashboard != expected:
        fail(
            f"build_dashboard(api, {USER_ID}) returned\n  {dashboard!r}\nexpected\n  {expected!r}\n"
            "Each field holds what its service returned: user from fetch_user(user_id), orders "
            "from fetch_orders(user), news from fetch_news(), weather from fetch_weather().\n"
            "Are two results swapped, or is a coroutine or task stored instead of its result?"
        )


async def test_orders_are_fetched_only_after_the_user_arrived_with_that_user(
    timeline: Timeline,
) -> None:
    api = FakeApi(timeline)
    await build(api)  # the fake fails the test if fetch_orders gets anything but that User
    if not (api.ended_before("fetch_user", "fetch_orders")):
        fail(
            "fetch_orders() started before fetch_user() had returned: the orders need the user's "
            "data (a data dependency).\nTry: user = await api.fetch_user(user_id), then "
            f"await api.fetch_orders(user).\n\n{timeline.draw()}"
        )


async def test_news_and_weather_start_at_once_without_waiting_for_the_user(
    timeline: Timeline,
) -> None:
    api = FakeApi(timeline)
    await build(api)
    late = [f"{n}()" for n in ("fetch_news", "fetch_weather") if api.ended_before("fetch_user", n)]
    if late and timeline.peak == 1:
        seen = (
            "and no two calls were ever in flight together: build_dashboard awaited the four "
            "calls one after another, so their times add up."
        )
    else:
        seen = (
            ": build_dashboard waited for the user before asking for things that do not need "
            "the user."
        )
    if late:
        fail(
            f"{' and '.join(late)} started only after fetch_user() had returned{seen}\n"
            "Expected: fetch_news() and fetch_weather() in flight while fetch_user() runs.\n"
            "Try: only fetch_orders() needs the user. Put fetch_user -> fetch_orders in one small "
            "coroutine and start it together with fetch_news() and fetch_weather() "
            f"(in a TaskGroup).\n\n{timeline.draw()}"
        )


async def test_the_orders_do_not_wait_for_the_news_or_the_weather(timeline: Timeline) -> None:
    api = FakeApi(timeline)
    await build(api)
    waited = [
        f"{n}()" for n in ("fetch_news", "fetch_weather") if api.ended_before(n, "fetch_orders")
    ]
    if waited:
        fail(
            f"fetch_orders() started only after {' and '.join(waited)} had returned, although "
            "the orders need only the user: they should start the moment fetch_user() returns.\n"
            "Likely mistake: awaiting fetch_user() together with the news and the weather "
            "(one gather, or awaiting their tasks first), then fetching the orders.\n"
            "Try: put `user = await api.fetch_user(user_id)` and `await api.fetch_orders(user)` in "
            "one small coroutine, and run that chain as one task beside fetch_news() and "
            f"fetch_weather().\n\n{timeline.draw()}"
        )


async def test_the_dashboard_is_ready_in_the_time_of_the_slowest_branch(timeline: Timeline) -> None:
    advice = (
        "only fetch_orders() has to wait (for fetch_user()); run the chain "
        "fetch_user -> fetch_orders (0.1 + 0.1 s) as one task beside fetch_news() (0.3 s) and "
        "fetch_weather() (0.2 s), so the dashboard takes max(0.1 + 0.1, 0.3, 0.2) = 0.3 s."
    )
    with timeline.expect_duration(
        0.3, delays=tuple(DELAYS.values()), what=f"build_dashboard(api, {USER_ID})", advice=advice
    ):
        await build(FakeApi(timeline))


async def test_a_failing_service_stops_the_calls_still_running(timeline: Timeline) -> None:
    api = FakeApi(timeline, down="fetch_user")
    call = f"build_dashboard(api, {USER_ID}) where fetch_user({USER_ID}) fails after 0.1 s"
    raised: BaseException | None = None
    with task_origins() as origins:
        try:
            dashboard = await dependencies.build_dashboard(api, USER_ID)
        except NotImplementedError:
            raise
        except Exception as error:
            raised = error
    if raised is None or not _holds(raised, api.error):
        ended = f"returned {dashboard!r}" if raised is None else f"raised {raised!r}"
        fail(
            f"{call} {ended}.\nExpected: the {api.error!r} reaches the caller (itself, or "
            "inside an ExceptionGroup): without the user there is no dashboard.\n"
            "Try: let the error propagate out of build_dashboard.\n\n" + timeline.draw()
        )
    left = [s for s in timeline.spans if s.end is None]
    if not left:
        timeline.expect_none_ran_on(
            timeline.span(f"fetch_user({USER_ID})"),
            call,
            "run the three branches in `async with asyncio.TaskGroup()`: when one fails, it "
            "cancels the others and waits for them before it raises.",
        )
        return
    names = " and ".join(s.label for s in left)
    kinds = {origins.get(s.task) for s in left if s.task is not None}
    stopped = [s.label for s in timeline.spans if s.cancelled]
    if kinds == {"asyncio.gather"}:
        seen = (
            "they ran in tasks started by asyncio.gather, which passes the first error on at "
            "once and leaves the other tasks running."
        )
    elif stopped and kinds and kinds <= {"asyncio.create_task", "loop.create_task"}:
        seen = (
            f"{' and '.join(stopped)} {'was' if len(stopped) == 1 else 'were'} cancelled when "
            f"the error came, but {names} ran in "
            f"{'a task of its own' if len(left) == 1 else 'tasks of their own'} made with "
            "asyncio.create_task, apart from the others, and nothing "
            f"cancelled {'it' if len(left) == 1 else 'them'}."
        )
    elif kinds and kinds <= {"asyncio.create_task", "loop.create_task"}:
        seen = (
            "they ran in tasks made with asyncio.create_task, and nothing cancelled them when "
            "the error came."
        )
    else:
        seen = "nothing cancelled them when the error came."
    fail(
        f"{call}: the error reached the caller while {names} "
        f"{'were' if len(left) > 1 else 'was'} still running, behind its back.\n"
        f"Seen: {seen}\n"
        "Expected: the calls still running cancelled, and stopped, before the error reaches "
        "the caller.\n"
        "Try: run the three branches in `async with asyncio.TaskGroup()`: when one fails, it "
        "cancels the others and waits for them before it raises.\n\n" + timeline.draw()
    )


def _holds(raised: BaseException, error: Exception) -> bool:
    """`raised` is `error` itself, or an ExceptionGroup holding it."""
    if raised is error:
        return True
    return (
        isinstance(raised, BaseExceptionGroup) and raised.subgroup(lambda e: e is error) is not None
    )


async def test_a_cancelled_build_leaves_no_call_running(timeline: Timeline) -> None:
    await cancel_midway(
        dependencies.build_dashboard(FakeApi(timeline), USER_ID),
        after=0.05,
        what=f"build_dashboard(api, {USER_ID})",
        timeline=timeline,
    )


# Stage 2: the weather is optional. Past its deadline it is cancelled and left out (None).
WEATHER_DEADLINE = 0.15
SLOW_WEATHER, QUICK_WEATHER = 0.5, 0.05  # answers long after, or well before, the deadline
WITH_DEADLINE = f"build_dashboard(api, {USER_ID}, weather_deadline={WEATHER_DEADLINE})"
OWN_DEADLINE = (
    "put the deadline around fetch_weather() alone: a small coroutine that awaits it inside "
    "`async with asyncio.timeout(weather_deadline)` and returns None on TimeoutError, run as "
    "the weather's task beside the other two."
)


async def build_with_a_deadline(api: FakeApi) -> Dashboard:
    """build_dashboard(api, 7, weather_deadline=0.15), explaining an error the deadline caused."""
    raised: Exception | None = None
    try:
        return await build(api, weather_deadline=scaled(WEATHER_DEADLINE))
    except (TimeoutError, ExceptionGroup) as error:
        raised = error
    weather = api.delays["fetch_weather"]
    others = [s.label for s in api.timeline.spans if s.cancelled and "weather" not in s.label]
    lost = f"it cancelled {' and '.join(others)} too" if others else "it failed"
    if isinstance(raised, TimeoutError):
        mistake = (
            f"the deadline was put around the whole dashboard, so when it passed {lost}, "
            "although only the weather has a deadline."
        )
    else:
        mistake = (
            "the weather's TimeoutError escaped from its task into the TaskGroup, and a "
            f"TaskGroup whose task fails cancels all the others: {lost}."
        )
    fail(
        f"{WITH_DEADLINE} raised {raised!r} with a weather of {weather} s: {mistake}\n"
        "Expected: the dashboard with its user, orders and news, and weather=None if the "
        f"weather misses its deadline.\nTry: {OWN_DEADLINE}\n\n{api.timeline.draw()}"
    )


@pytest.mark.stage(2)
async def test_a_weather_past_its_deadline_is_left_out(timeline: Timeline) -> None:
    dashboard = await build_with_a_deadline(FakeApi(timeline, weather=SLOW_WEATHER))
    expected = Dashboard(ADA, ORDERS, NEWS, None)
    if dashboard != expected:
        fail(
            f"{WITH_DEADLINE} with a weather of {SLOW_WEATHER} s returned\n  {dashboard!r}\n"
            f"expected\n  {expected!r}\nThe weather misses its {WEATHER_DEADLINE} s deadline, so "
            "the dashboard is built without it: weather=None (not an exception object, not the "
            f"weather that came late), everything else as before.\nTry: {OWN_DEADLINE}\n\n"
            + timeline.draw()
        )


@pytest.mark.stage(2)
async def test_a_late_weather_does_not_hold_up_the_dashboard(timeline: Timeline) -> None:
    started = timeline.now()
    await build_with_a_deadline(FakeApi(timeline, weather=SLOW_WEATHER))
    took, ideal = timeline.now() - started, max(DELAYS["fetch_news"], WEATHER_DEADLINE)
    low, high = EARLY * scaled(ideal), scaled(ideal) + scaled(MARGIN)
    if low <= took <= high:
        return
    weather = timeline.span("fetch_weather()")
    if took < low:
        why = "It returned before the news (0.3 s) could have arrived: await every branch."
    elif weather.end is not None and not weather.cancelled:
        why = (
            f"It waited until the slow weather had finished ({SLOW_WEATHER} s), although the "
            f"dashboard does without it after {WEATHER_DEADLINE} s.\nLikely mistake: giving up "
            "on waiting for the weather (asyncio.wait(..., timeout=...)) without cancelling "
            "it: a TaskGroup (or gather) still waits for every task it holds.\n"
            f"Try: {OWN_DEADLINE} asyncio.timeout cancels the call at the deadline."
        )
    else:
        why = (
            "It kept waiting after the news had arrived and the weather's deadline had "
            f"passed.\nTry: {OWN_DEADLINE}"
        )
    fail(
        f"{WITH_DEADLINE} with a weather of {SLOW_WEATHER} s returned after {took:.2f} s.\n"
        f"Expected: about {scaled(ideal):.2f} s, when the news is in (between {low:.2f} s and "
        f"{high:.2f} s): max(0.1 + 0.1, 0.3, deadline {WEATHER_DEADLINE}).\n{why}\n\n"
        + timeline.draw()
    )


@pytest.mark.stage(2)
async def test_the_late_weather_call_is_cancelled_not_left_running(timeline: Timeline) -> None:
    await build_with_a_deadline(FakeApi(timeline, weather=SLOW_WEATHER))
    weather = timeline.span("fetch_weather()")
    if weather.cancelled and weather.end is not None:
        return
    if weather.end is None and weather.task is not None and weather.task.cancelling():
        problem = (
            "fetch_weather() had been asked to cancel, but was still running when "
            "build_dashboard returned: task.cancel() only requests the cancellation.\n"
            "Try: await the cancelled task before you return, or let asyncio.timeout cancel "
            "and wait for you."
        )
    elif weather.end is None:
        problem = (
            "fetch_weather() was still running when build_dashboard returned: giving up on "
            "waiting for a call does not stop it, it goes on behind your back.\nLikely mistake: "
            "asyncio.wait({weather}, timeout=...) and no cancel().\n"
            f"Try: {OWN_DEADLINE} asyncio.timeout cancels the call and waits until it stops."
        )
    else:
        problem = (
            "fetch_weather() ran to its end: nothing cancelled it at the deadline.\n"
            f"Try: {OWN_DEADLINE}"
        )
    fail(
        f"{WITH_DEADLINE} with a weather of {SLOW_WEATHER} s: {problem}\nExpected: the weather "
        f"cancelled at {WEATHER_DEADLINE} s and stopped before build_dashboard returns.\n\n"
        + timeline.draw()
    )


@pytest.mark.stage(2)
async def test_a_weather_that_answers_in_time_is_kept(timeline: Timeline) -> None:
    dashboard = await build_with_a_deadline(FakeApi(timeline, weather=QUICK_WEATHER))
    expected = Dashboard(ADA, ORDERS, NEWS, WEATHER)
    if dashboard != expected:
        fail(
            f"{WITH_DEADLINE} with a weather of {QUICK_WEATHER} s returned\n  {dashboard!r}\n"
            f"expected\n  {expected!r}\nThe weather answered within its {WEATHER_DEADLINE} s "
            "deadline, so the dashboard shows it: only a weather that misses the deadline is "
            f"left out.\n\n{timeline.draw()}"
        )


@pytest.mark.stage(2)
async def test_a_weather_that_fails_fails_the_dashboard_as_in_stage_1(timeline: Timeline) -> None:
    api = FakeApi(timeline, weather=QUICK_WEATHER, down="fetch_weather")
    call = f"{WITH_DEADLINE} where fetch_weather() fails after {QUICK_WEATHER} s"
    raised: Exception | None = None
    try:
        dashboard = await dependencies.build_dashboard(
            api, USER_ID, weather_deadline=scaled(WEATHER_DEADLINE)
        )
    except NotImplementedError:
        raise
    except Exception as error:
        raised = error
    if raised is None:
        failed_at = timeline.drawn(timeline.span("fetch_weather()").end or 0.0)
        swallowed = (
            f"the weather's {api.error!r} was swallowed and shown as a missing weather, as if "
            f"it had missed its {WEATHER_DEADLINE} s deadline (it failed at {failed_at:.2f} s)."
            if dashboard.weather is None
            else "the weather's error never reached the caller."
        )
        fail(
            f"{call} returned\n  {dashboard!r}\n{swallowed}\nOnly a missed deadline leaves the "
            "weather out; a weather service that fails is an error, as in stage 1: the "
            "dashboard fails with it.\nExpected: the ConnectionError reaches the caller (itself, "
            "or inside an ExceptionGroup).\nTry: catch only TimeoutError around the weather's "
            "`async with asyncio.timeout(weather_deadline)`, not every Exception.\n\n"
            + timeline.draw()
        )
    if not _holds(raised, api.error):
        fail(f"{call} raised {raised!r}, expected the weather's {api.error!r}.")
    timeline.expect_none_ran_on(
        timeline.span("fetch_weather()"),
        call,
        "run the three branches in `async with asyncio.TaskGroup()` as in stage 1: when the "
        "weather's task fails, the group cancels the others and waits for them.",
    )


class MissingDependency(Exception):
    """fetch_orders() was called without the User that fetch_user() returned."""


class FakeApi:
    """The four services on the timeline. fetch_orders insists on the User fetch_user returned.

    `log` keeps "<call> started" / "<call> ended" in the order they happened: a probe, no clock.
    """

    def __init__(
        self, timeline: Timeline, weather: float = DELAYS["fetch_weather"], down: str = ""
    ) -> None:
        self.timeline = timeline
        self.delays = {**DELAYS, "fetch_weather": weather}  # stage 2 slows the weather down
        self.down = down  # a service that fails at the end of its delay
        self.error = ConnectionError(f"{down} is down")
        self.log: list[str] = []
        self.user: User | None = None  # what fetch_user returned, once it has returned
        self.mistake = ""

    async def _serve(self, name: str, shown: str, result: T) -> T:
        self.log.append(f"{name} started")
        error = self.error if name == self.down else None
        answer: T = await self.timeline.work(shown, self.delays[name], result, error=error)
        self.log.append(f"{name} ended")
        return answer

    async def fetch_user(self, user_id: int) -> User:
        found = ADA if user_id == USER_ID else User(user_id, "Unknown", "AC-0000")
        self.user = await self._serve("fetch_user", f"fetch_user({user_id})", found)
        return self.user

    async def fetch_orders(self, user: User) -> list[str]:
        if self.user is None or user != self.user:
            await self.timeline.work(f"fetch_orders({user!r})", 0)  # drawn where it happened
            self.mistake = self._broken_dependency(user)
            raise MissingDependency(self.mistake)
        return await self._serve("fetch_orders", f"fetch_orders({user.name})", ORDERS)

    async def fetch_news(self) -> list[str]:
        return await self._serve("fetch_news", "fetch_news()", NEWS)

    async def fetch_weather(self) -> str:
        return await self._serve("fetch_weather", "fetch_weather()", WEATHER)

    def _broken_dependency(self, got: object) -> str:
        if self.user is None:
            what = (
                f"before fetch_user({USER_ID}) had returned, so {got!r} cannot be the User "
                "that fetch_user() returns."
            )
        else:
            kind = type(got).__name__
            what = f"with {got!r} (a {kind}), not the User fetch_user() returned: {self.user!r}."
        return (
            f"build_dashboard called fetch_orders({got!r}) {what}\n"
            "That is the data dependency of this kata: the orders service knows a user by "
            "user.account, which only fetch_user() can tell you, so fetch_orders() has to wait "
            "for fetch_user() and take its result.\n"
            "Expected: user = await api.fetch_user(user_id), then await api.fetch_orders(user).\n"
            "Try: chain those two awaits in one small coroutine, and run that chain together "
            "with fetch_news() and fetch_weather()."
        )

    def ended_before(self, first: str, then: str) -> bool:
        """Did call `first` end before call `then` started?"""
        ended, started = f"{first} ended", f"{then} started"
        return ended in self.log and self.log.index(ended) < self.log.index(started)


async def build(api: FakeApi, **options: float) -> Dashboard:
    """build_dashboard(api, 7), failing the test at once if a service is misused."""
    try:
        dashboard = await dependencies.build_dashboard(api, USER_ID, **options)
    except Exception:
        if not api.mistake:
            raise
    if api.mistake:  # outside `except`, so the failure shows the fake's explanation once
        fail(f"{api.mistake}\n\n{api.timeline.draw()}")
    asked = Counter(entry.removesuffix(" started") for entry in api.log if "started" in entry)
    wrong = {name: asked[name] for name in DELAYS if asked[name] != 1}
    if wrong:
        counts = ", ".join(f"{name}() {n} time(s)" for name, n in wrong.items())
        fail(
            f"build_dashboard(api, {USER_ID}) called {counts}.\n"
            "Expected: each of the four services asked exactly once; the dashboard needs one "
            "answer from each.\nTry: call fetch_user, fetch_orders, fetch_news and fetch_weather "
            f"once each, and await every call you make.\n\n{api.timeline.draw()}"
        )
    return dashboard
