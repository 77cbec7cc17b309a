"""Catches every Exception around the weather, so a weather service that fails is left out too.

caught by: test_a_weather_that_fails_fails_the_dashboard_as_in_stage_1
says: shown as a missing weather
"""

import asyncio
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class User:
    """A user as the user service knows them; the orders service knows them by `account`."""

    id: int
    name: str
    account: str


@dataclass(frozen=True)
class Dashboard:
    """Everything the dashboard page shows."""

    user: User
    orders: list[str]
    news: list[str]
    weather: str | None  # None: the weather missed its deadline (stage 2)


class Api(Protocol):
    """The four services behind the dashboard (the times are what each call takes)."""

    async def fetch_user(self, user_id: int) -> User:
        """The user with this id (0.1 s)."""
        ...

    async def fetch_orders(self, user: User) -> list[str]:
        """The user's orders (0.1 s). Needs the User that fetch_user returned."""
        ...

    async def fetch_news(self) -> list[str]:
        """Today's headlines (0.3 s). Needs nothing."""
        ...

    async def fetch_weather(self) -> str:
        """Today's forecast (0.2 s). Needs nothing."""
        ...


async def build_dashboard(
    api: Api, user_id: int, *, weather_deadline: float | None = None
) -> Dashboard:
    """Ask the four services and assemble the dashboard, in max(0.1 + 0.1, 0.3, 0.2) = 0.3 s.

    fetch_orders must wait for fetch_user (it needs the User); nothing else waits for anything.

    Stage 2: with a `weather_deadline` (seconds), a weather that has not answered by then is
    cancelled and the dashboard is built without it (weather=None). None: no deadline.
    """

    # The orders need the user: chain those two awaits in one small coroutine.
    async def user_and_orders() -> tuple[User, list[str]]:
        user = await api.fetch_user(user_id)
        return user, await api.fetch_orders(user)

    # The weather is optional: past its deadline it is cancelled and left out (None), and the
    # TimeoutError is caught here, inside its own task, so the TaskGroup never sees it.
    async def weather_or_none() -> str | None:
        try:
            async with asyncio.timeout(weather_deadline):  # None: no deadline at all
                return await api.fetch_weather()
        except Exception:
            # Late or failed: either way, the dashboard does without the weather.
            return None

    # The chain, the news and the weather need nothing from each other: run them together.
    async with asyncio.TaskGroup() as tg:
        chain = tg.create_task(user_and_orders())
        news = tg.create_task(api.fetch_news())
        weather = tg.create_task(weather_or_none())
    user, orders = chain.result()
    return Dashboard(user, orders, news.result(), weather.result())
