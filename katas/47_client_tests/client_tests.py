"""Tests for UsersClient (given/users_api.py): with a mock session, and against a
real local server."""

from collections.abc import Callable, Iterable
from unittest.mock import AsyncMock, MagicMock

import aiohttp
import pytest
from aiohttp import web
from servers import HttpServer
from users_api import ServiceError, User, UsersClient

StartServer = Callable[[Iterable[web.AbstractRouteDef]], HttpServer]


async def test_write_your_first_test() -> None:
    raise NotImplementedError(
        "write tests for UsersClient here: test_with_a_mock_... ones (a MagicMock session) and "
        "test_with_a_server_... ones (the http_server fixture), and delete this one"
    )
