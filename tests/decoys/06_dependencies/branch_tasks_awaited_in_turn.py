"""Starts each branch with asyncio.create_task and awaits them in turn: cancelled, they run on.

caught by: test_a_failing_service_stops_the_calls_still_running
says: made with asyncio.create_task, and nothing cancelled them
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
    async def user_and_orders() -> tuple[User, list[str]]:
        user = await api.fetch_user(user_id)
        return user, await api.fetch_orders(user)

    async def weather_or_none() -> str | None:
        try:
            async with asyncio.timeout(weather_deadline):
                return await api.fetch_weather()
        except TimeoutError:
            return None

    chain = asyncio.create_task(user_and_orders())
    news = asyncio.create_task(api.fetch_news())
    weather = asyncio.create_task(weather_or_none())
    user, orders = await chain
    return Dashboard(user, orders, await news, await weather)
