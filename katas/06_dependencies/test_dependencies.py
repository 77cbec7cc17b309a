from collections import Counter
from typing import TypeVar

import dependencies
import pytest
from dependencies import Dashboard, User
from harness import Timeline

T = TypeVar("T")

USER_ID = 7
DELAYS = {"fetch_user": 0.1, "fetch_orders": 0.1, "fetch_news": 0.3, "fetch_weather": 0.2}
ADA = User(id=USER_ID, name="Ada", account="AC-0007")
ORDERS = ["AC-0007/1 teapot", "AC-0007/2 kettle"]
NEWS = ["asyncio 4.0 released", "local dojo hits 1,000 katas"]
WEATHER = "sunny, 21 °C"


class MissingDependency(Exception):
    """fetch_orders() was called without the User that fetch_user() returned."""


class FakeApi:
    """The four services on the timeline. fetch_orders insists on the User fetch_user returned.

    `log` keeps "<call> started" / "<call> ended" in the order they happened: a probe, no clock.
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self.log: list[str] = []
        self.user: User | None = None  # what fetch_user returned, once it has returned
        self.mistake = ""

    async def _serve(self, name: str, shown: str, result: T) -> T:
        self.log.append(f"{name} started")
        answer: T = await self.timeline.work(shown, DELAYS[name], result)
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


async def build(api: FakeApi) -> Dashboard:
    """build_dashboard(api, 7), failing the test at once if a service is misused."""
    try:
        dashboard = await dependencies.build_dashboard(api, USER_ID)
    except Exception:
        if not api.mistake:
            raise
    if api.mistake:  # outside `except`, so the failure shows the fake's explanation once
        pytest.fail(f"{api.mistake}\n\n{api.timeline.draw()}", pytrace=False)
    asked = Counter(entry.removesuffix(" started") for entry in api.log if "started" in entry)
    wrong = {name: asked[name] for name in DELAYS if asked[name] != 1}
    if wrong:
        counts = ", ".join(f"{name}() {n} time(s)" for name, n in wrong.items())
        pytest.fail(
            f"build_dashboard(api, {USER_ID}) called {counts}.\n"
            "Expected: each of the four services asked exactly once; the dashboard needs one "
            "answer from each.\nTry: call fetch_user, fetch_orders, fetch_news and fetch_weather "
            f"once each, and await every call you make.\n\n{api.timeline.draw()}",
            pytrace=False,
        )
    return dashboard


async def test_the_dashboard_holds_the_user_their_orders_the_news_and_the_weather(
    timeline: Timeline,
) -> None:
    dashboard = await build(FakeApi(timeline))
    expected = Dashboard(ADA, ORDERS, NEWS, WEATHER)
    assert dashboard == expected, (
        f"build_dashboard(api, {USER_ID}) returned\n  {dashboard!r}\nexpected\n  {expected!r}\n"
        "Each field holds what its service returned: user from fetch_user(user_id), orders from "
        "fetch_orders(user), news from fetch_news(), weather from fetch_weather(). "
        "Are two results swapped, or is a coroutine or task stored instead of its result?"
    )


async def test_orders_are_fetched_only_after_the_user_arrived_with_that_user(
    timeline: Timeline,
) -> None:
    api = FakeApi(timeline)
    await build(api)  # the fake fails the test if fetch_orders gets anything but that User
    assert api.ended_before("fetch_user", "fetch_orders"), (
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
    assert not late, (
        f"{' and '.join(late)} started only after fetch_user() had returned: build_dashboard "
        "waited for the user before asking for things that do not need the user.\n"
        "Expected: fetch_news() and fetch_weather() in flight while fetch_user() runs.\n"
        "Try: only fetch_orders() needs the user. Put fetch_user -> fetch_orders in one small "
        "coroutine and start it together with fetch_news() and fetch_weather() "
        f"(a TaskGroup, or asyncio.gather).\n\n{timeline.draw()}"
    )


async def test_the_orders_do_not_wait_for_the_news_or_the_weather(timeline: Timeline) -> None:
    api = FakeApi(timeline)
    await build(api)
    waited = [
        f"{n}()" for n in ("fetch_news", "fetch_weather") if api.ended_before(n, "fetch_orders")
    ]
    assert not waited, (
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
