"""Awaits the four calls one after another, so their times add up to 0.7 s.

caught by: test_news_and_weather_start_at_once_without_waiting_for_the_user
says: awaited the four calls one after another
"""

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
    user = await api.fetch_user(user_id)
    orders = await api.fetch_orders(user)
    news = await api.fetch_news()
    weather = await api.fetch_weather()
    return Dashboard(user, orders, news, weather)
