"""Gathers all four calls at once, passing the user id to fetch_orders instead of the User it needs.

caught by: test_the_dashboard_holds_the_user_their_orders_the_news_and_the_weather
says: data dependency
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
    user, orders, news, weather = await asyncio.gather(
        api.fetch_user(user_id),
        api.fetch_orders(user_id),
        api.fetch_news(),
        api.fetch_weather(),
    )
    return Dashboard(user, orders, news, weather)
