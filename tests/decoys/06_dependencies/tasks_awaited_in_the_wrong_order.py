"""Starts user, news and weather as tasks but awaits news and weather first: orders start late.

caught by: test_the_orders_do_not_wait_for_the_news_or_the_weather
says: the orders need only the user
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
    weather: str


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


async def build_dashboard(api: Api, user_id: int) -> Dashboard:
    """Ask the four services and assemble the dashboard, in max(0.1 + 0.1, 0.3, 0.2) = 0.3 s.

    fetch_orders must wait for fetch_user (it needs the User); nothing else waits for anything.
    """
    user_task = asyncio.create_task(api.fetch_user(user_id))
    news_task = asyncio.create_task(api.fetch_news())
    weather_task = asyncio.create_task(api.fetch_weather())
    news = await news_task
    weather = await weather_task
    user = await user_task
    orders = await api.fetch_orders(user)
    return Dashboard(user, orders, news, weather)
