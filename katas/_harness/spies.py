"""Stand-ins a test puts where the learner's module looks: what it creates, calls and reads.

- `swap_in(monkeypatch, module, real, Name=stand_in)`: `module` sees `stand_in` for `real.Name`,
  whether it did `import asyncio` (it gets a view of asyncio with that name replaced) or
  `from asyncio import Name`; the rest of the program (the test, the harness) is untouched;
- `instances_made(monkeypatch, module, asyncio, "Semaphore")`: every object of those classes the
  module creates, in a list;
- `wall_clock(monkeypatch, module)`: the module's `time.time()`, which the test can move;
- `FakeClock`: a clock function to hand to the code under test, moved by the test.
"""

from __future__ import annotations

import time
import types
from typing import Any

import pytest

from _harness.timeline import Timeline


def swap_in(
    monkeypatch: pytest.MonkeyPatch,
    module: types.ModuleType,
    real: types.ModuleType,
    **stand_ins: Any,
) -> None:
    """Make `module` see each stand-in in place of `real`'s object of that name."""
    replaced = {id(getattr(real, name)): stand_in for name, stand_in in stand_ins.items()}
    for name, value in list(vars(module).items()):
        if value is real or getattr(value, "__viewed__", None) is real:
            monkeypatch.setattr(module, name, _view(value, real, stand_ins))
        elif id(value) in replaced:  # `from asyncio import Semaphore`
            monkeypatch.setattr(module, name, replaced[id(value)])


def _view(seen: types.ModuleType, real: types.ModuleType, stand_ins: dict[str, Any]) -> Any:
    """`real` as a module sees it: the stand-ins, and for every other name what it saw so far
    (`real` itself, or the view of an earlier swap_in)."""
    view = types.ModuleType(real.__name__)
    view.__getattr__ = lambda name: getattr(seen, name)  # type: ignore[method-assign]
    view.__viewed__ = real  # type: ignore[attr-defined]
    for name, stand_in in stand_ins.items():
        setattr(view, name, stand_in)
    return view


def instances_made(
    monkeypatch: pytest.MonkeyPatch, module: types.ModuleType, real: types.ModuleType, *names: str
) -> list[Any]:
    """Every instance of `real.<name>` (for each name) that `module` creates, in order."""
    made: list[Any] = []

    def recorded(cls: type) -> type:
        class Recorded(cls):  # type: ignore[misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                made.append(self)

        Recorded.__name__ = Recorded.__qualname__ = cls.__name__
        return Recorded

    swap_in(monkeypatch, module, real, **{name: recorded(getattr(real, name)) for name in names})
    return made


class WallClock:
    """time.time() as the learner's module sees it: the real wall clock moved by `offset`."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.reads = 0

    def time(self) -> float:
        self.reads += 1
        return time.time() + self.offset


def wall_clock(monkeypatch: pytest.MonkeyPatch, module: types.ModuleType) -> WallClock:
    """The wall clock of `module` (`time.time`), which the test can set back or forward."""
    clock = WallClock()
    swap_in(monkeypatch, module, time, time=clock.time)
    return clock


class FakeClock:
    """The time as the test sets it: the test moves it on (`clock.now += 61`, or `advance`)
    instead of sleeping, and counts how often the code asked it."""

    def __init__(self, timeline: Timeline | None = None) -> None:
        self.timeline = timeline
        self.now = 1000.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        if self.timeline is not None:
            self.timeline.mark(f"clock +{seconds:.0f} s")
