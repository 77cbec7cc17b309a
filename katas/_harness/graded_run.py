"""The pytest plugin of a graded run: the learner's tests meet one version of the component.

`_harness/grading.py` runs the tests a learner wrote (a "write the tests" kata) once per version
of the component, each in a fresh pytest: `-p katas._harness.graded_run`, with

- KATA_GRADED_COMPONENT="module=path/to/version.py": that file is imported under the module's
  name before any test file, so `from loading_cache import LoadingCache` gets this version;
- KATA_GRADED_SLEEPS=path.json: where to write every real sleep a test called, by test name.

Real sleeps are recorded only when the learner's test file itself calls them (not the component,
not the harness): `asyncio.sleep(0)` is a step of the loop and is not counted.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")


class RealSleeps:
    """Every real sleep the learner's test file calls: {test name: [[seconds, line], ...]}."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.test = ""
        self.test_file = ""
        self.seen: dict[str, list[tuple[float, int]]] = {}

    def note(self, seconds: float) -> None:
        caller = sys._getframe(2)  # the frame that called the sleep (1 is the spy itself)
        if self.test and seconds > 0 and caller.f_code.co_filename == self.test_file:
            self.seen.setdefault(self.test, []).append((float(seconds), caller.f_lineno))

    def install(self) -> None:
        async_sleep, blocking_sleep = asyncio.sleep, time.sleep

        def sleep(delay: float, result: T | None = None) -> Awaitable[T | None]:
            self.note(delay)
            return async_sleep(delay, result)

        def sleep_blocking(seconds: float) -> None:
            self.note(seconds)
            blocking_sleep(seconds)

        asyncio.sleep = sleep  # type: ignore[assignment]
        time.sleep = sleep_blocking  # type: ignore[assignment]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Any:
        self.test, self.test_file = item.name, str(item.path)
        try:
            return (yield)
        finally:
            self.test = ""

    def pytest_sessionfinish(self) -> None:
        self.out.write_text(json.dumps(self.seen))


def _import_as(name: str, path: Path) -> None:
    """Import the file at `path` as module `name`, ahead of the one beside the tests."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


@pytest.hookimpl(tryfirst=True)  # before the kata's conftest wraps each test in its guard
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The grading asks what the tests catch and records their real sleeps itself. A slow step of
    # the learner's own (building the first mocks: 20 ms here, ten times that on a busy machine)
    # would fail a test on the working component for no fault of the tests.
    for item in items:
        item.add_marker(pytest.mark.blocks_the_loop_on_purpose)


def pytest_configure(config: pytest.Config) -> None:
    sleeps = os.environ.get("KATA_GRADED_SLEEPS")
    if sleeps:
        spy = RealSleeps(Path(sleeps))
        spy.install()  # before the component is imported: its default arguments see the spy
        config.pluginmanager.register(spy, "kata-real-sleeps")
    component = os.environ.get("KATA_GRADED_COMPONENT")
    if component:
        name, path = component.split("=", 1)
        _import_as(name, Path(path))
