"""Plain `def` tests: asyncio.run cannot be called from inside a running loop, so these tests
run no loop of their own. A `loops` fixture watches asyncio instead: which loops were created,
which were closed, what asyncio.run / new_event_loop / set_event_loop were asked to do."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import event_loop
import pytest
from harness import fail

NAMES = ["Ada", "Grace", "Guido"]
GREETINGS = ["Hello, Ada!", "Hello, Grace!", "Hello, Guido!"]
Loop = asyncio.AbstractEventLoop


GREET_EVERYONE = event_loop.greet_everyone  # the real one, as the kata gives it


def test_main_returns_a_greeting_for_every_name(loops: Loops) -> None:
    result = event_loop.main(NAMES)
    _expect_greetings("main", result, "return asyncio.run(greet_everyone(names))")


def test_main_runs_the_greetings_with_asyncio_run(loops: Loops) -> None:
    result = event_loop.main(NAMES)
    if inspect.iscoroutine(result):
        result.close()
    if loops.created:
        instead = "it made a loop of its own"
    else:
        instead = "greet_everyone ran some other way" if loops.greeted_on else "nothing ran"
    if not loops.runs:
        fail(
            f"main({NAMES}) never called asyncio.run(): {instead}.\n"
            "Expected: one call to asyncio.run, which creates a loop, runs the coroutine to the "
            "end, cancels what is left over and closes the loop, all in one line.\n"
            "Try: return asyncio.run(greet_everyone(names)); the explicit loop is "
            "legacy_main's job."
        )
    if loops.runs != 1:
        fail(
            f"main({NAMES}) called asyncio.run() {loops.runs} times: each call builds and "
            "tears down a whole event loop.\nExpected: one asyncio.run around one coroutine.\n"
            "Try: return asyncio.run(greet_everyone(names))."
        )
    if not loops.greeted_in_run:
        fail(
            f"main({NAMES}) called asyncio.run(), but greet_everyone did not run inside it.\n"
            "Expected: asyncio.run runs the greetings.\n"
            "Try: return asyncio.run(greet_everyone(names))."
        )


def test_legacy_main_returns_a_greeting_for_every_name(loops: Loops) -> None:
    result = event_loop.legacy_main(NAMES)
    _expect_greetings(
        "legacy_main", result, "return loop.run_until_complete(greet_everyone(names))"
    )


def test_legacy_main_runs_the_greetings_on_a_new_loop_of_its_own(loops: Loops) -> None:
    result = event_loop.legacy_main(NAMES)
    if inspect.iscoroutine(result):
        result.close()
    if loops.runs:
        fail(
            f"legacy_main({NAMES}) called asyncio.run(): right in real code, but this exercise "
            "is the explicit loop that asyncio.run hides from you.\n"
            "Expected: a loop from asyncio.new_event_loop(), driven by "
            "loop.run_until_complete().\n"
            "Try: loop = asyncio.new_event_loop(); try: return loop.run_until_complete(...); "
            "finally: loop.close()."
        )
    if not loops.created:
        fail(
            f"legacy_main({NAMES}) never created an event loop.\n"
            "Expected: a fresh loop that legacy_main owns, and therefore closes.\n"
            "Try: loop = asyncio.new_event_loop()."
        )
    if not loops.greeted_on or loops.greeted_on[-1] not in loops.created:
        fail(
            f"legacy_main({NAMES}) created an event loop, but greet_everyone "
            f"{'ran on another loop' if loops.greeted_on else 'never ran'}.\n"
            "Expected: the greetings run on the new loop.\n"
            "Try: return loop.run_until_complete(greet_everyone(names))."
        )


def test_legacy_main_closes_its_loop_before_returning(loops: Loops) -> None:
    event_loop.legacy_main(NAMES)
    still_open = loops.still_open()
    if still_open:
        fail(
            f"legacy_main({NAMES}) returned, but {_still_open_text(still_open)} "
            "(loop.is_closed() is False). An open loop keeps its selector and file "
            "descriptors, and Python warns 'ResourceWarning: unclosed event loop' when it is "
            "collected.\nExpected: every loop legacy_main creates is closed when it returns.\n"
            "Try: loop.close() in a `finally:` block after loop.run_until_complete(...)."
        )
    pending = [task for loop in loops.created for task in asyncio.all_tasks(loop)]
    if pending:
        fail(
            f"legacy_main({NAMES}) closed its loop with {len(pending)} task(s) still pending "
            f"on it: {pending}. They will never run, and their errors are lost.\n"
            "Expected: the coroutine has finished when the loop closes.\n"
            "Try: loop.run_until_complete(greet_everyone(names)), which waits until it is done."
        )


def test_legacy_main_closes_its_loop_even_when_the_greeting_fails(
    loops: Loops, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy_main_with_the_service_down(monkeypatch)
    still_open = loops.still_open()
    if not still_open:
        return
    for loop in still_open:  # closed here, so that the run below starts afresh
        loop.close()
    monkeypatch.setattr(event_loop, "greet_everyone", GREET_EVERYONE)
    event_loop.legacy_main(NAMES)  # the same call, with a greeting that succeeds
    if loops.still_open():
        seen = "it does not close its loop when the greeting succeeds either"
        advice = "close the loop in a `finally:` block"
    else:
        seen = (
            "with a greeting that succeeds it does close its loop, so the loop is closed "
            "only on the success path: the error skipped loop.close()"
        )
        advice = "move loop.close() into a `finally:` block"
    fail(
        f"greet_everyone raised ConnectionError and legacy_main({NAMES}) let it through, but "
        f"{_still_open_text(still_open)}.\nSeen: {seen}.\n"
        "Expected: the loop closed in every case, the error passed on all the same.\n"
        f"Try: {advice}: loop = asyncio.new_event_loop(), then "
        "`try: return loop.run_until_complete(...)` and `finally: loop.close()`."
    )


def test_legacy_main_leaves_no_current_event_loop_behind(
    loops: Loops, monkeypatch: pytest.MonkeyPatch
) -> None:
    event_loop.legacy_main(NAMES)
    _expect_no_current_loop(loops, "returned")
    legacy_main_with_the_service_down(monkeypatch)
    _expect_no_current_loop(loops, "raised greet_everyone's ConnectionError")


def _expect_no_current_loop(loops: Loops, ended: str) -> None:
    __tracebackhide__ = True
    left = loops.set_current[-1] if loops.set_current else None
    if left is not None:
        fail(
            f"legacy_main({NAMES}) called asyncio.set_event_loop(loop) and {ended} with that "
            f"loop ({'closed' if left.is_closed() else 'open'}) still set as the current event "
            "loop of this thread. Code that later asks for the current loop gets a dead one "
            "('Event loop is closed') or one that nobody will close.\n"
            "Expected: no current loop left behind, however legacy_main ends, as asyncio.run "
            "leaves it.\n"
            "Try: drop set_event_loop (run_until_complete does not need it), or undo it with "
            "asyncio.set_event_loop(None) in the `finally` block."
        )


@dataclass(repr=False)
class Loops:
    """What the code under test did with event loops, seen through spies on asyncio."""

    created: list[Loop] = field(default_factory=list)  # every loop built, by any route
    runs: int = 0  # calls to asyncio.run (seen through the asyncio.Runner it uses)
    in_run: bool = False
    greeted_on: list[Loop] = field(default_factory=list)  # where greet_everyone ran
    greeted_in_run: bool = False
    set_current: list[Loop | None] = field(default_factory=list)  # asyncio.set_event_loop(...)

    def __repr__(self) -> str:
        return (
            f"<loops: {len(self.created)} created, {len(self.still_open())} open, "
            f"{self.runs} asyncio.run call(s)>"
        )

    def still_open(self) -> list[Loop]:
        return [loop for loop in self.created if not loop.is_closed()]


@pytest.fixture
def loops(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loops]:
    seen = Loops()
    real_init = asyncio.BaseEventLoop.__init__
    real_set = asyncio.set_event_loop
    real_greet = event_loop.greet_everyone

    def init(self: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        seen.created.append(self)

    class Runner(asyncio.Runner):  # what asyncio.run uses, however it was imported
        def run(self, coro: Any, **kwargs: Any) -> Any:
            seen.runs += 1
            seen.in_run = True
            try:
                return super().run(coro, **kwargs)
            finally:
                seen.in_run = False

    def set_event_loop(loop: Loop | None) -> None:
        seen.set_current.append(loop)
        real_set(loop)

    async def greet_everyone(names: list[str]) -> list[str]:
        seen.greeted_on.append(asyncio.get_running_loop())
        seen.greeted_in_run |= seen.in_run
        return await real_greet(names)

    monkeypatch.setattr(asyncio.BaseEventLoop, "__init__", init)
    monkeypatch.setattr(asyncio.runners, "Runner", Runner)
    monkeypatch.setattr(asyncio, "set_event_loop", set_event_loop)
    monkeypatch.setattr(asyncio, "get_event_loop", _get_event_loop_outside_a_loop_fails)
    monkeypatch.setattr(event_loop, "greet_everyone", greet_everyone)
    yield seen
    for loop in seen.still_open():  # a leaked loop fails its own test, not a later one
        loop.close()
    if seen.set_current:
        real_set(None)  # as asyncio.run leaves it


def _get_event_loop_outside_a_loop_fails() -> Loop:
    try:
        return asyncio.get_running_loop()  # inside a coroutine it is harmless
    except RuntimeError:
        pass
    fail(
        "Your code called asyncio.get_event_loop() while no event loop was running. There it "
        "means 'the current loop of this thread': up to Python 3.13 it quietly created one and "
        "set it as current (a loop nobody closes; a DeprecationWarning since 3.12), and since "
        "3.14 it raises RuntimeError. That is why it is deprecated outside a running loop."
        "\nExpected: the code creates the loop it runs on.\n"
        "Try: asyncio.run(...) in main(); loop = asyncio.new_event_loop() in legacy_main()."
    )


def _expect_greetings(call: str, result: object, advice: str) -> None:
    __tracebackhide__ = True
    if inspect.iscoroutine(result):
        result.close()  # it never ran; closed, Python won't warn about it later
        fail(
            f"{call}({NAMES}) returned a coroutine object, not the greetings: calling an async "
            "function only creates a coroutine, and nothing in it runs until an event loop "
            f"runs it.\nExpected: {GREETINGS}.\nTry: {advice} (and keep {call} a plain `def`, "
            "not `async def`)."
        )
    if result != GREETINGS:
        fail(
            f"{call}({NAMES}) returned {result!r}, expected {GREETINGS!r}: what "
            f"greet_everyone(names) returns once the loop has run it.\nTry: {advice}"
        )


def _still_open_text(found: list[Loop]) -> str:
    if len(found) == 1:
        return "the event loop it created is still open"
    return f"the {len(found)} event loops it created are still open"


def legacy_main_with_the_service_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """legacy_main(NAMES) with a greet_everyone that raises ConnectionError: it must let it out."""
    __tracebackhide__ = True

    async def greeting_service_down(names: list[str]) -> list[str]:
        await asyncio.sleep(0)
        raise ConnectionError("the greeting service is down")

    monkeypatch.setattr(event_loop, "greet_everyone", greeting_service_down)
    try:
        result = event_loop.legacy_main(NAMES)
    except ConnectionError:
        return
    fail(
        f"greet_everyone raised ConnectionError, yet legacy_main({NAMES}) returned {result!r}: "
        "the error was swallowed.\nExpected: the error reaches the caller.\n"
        "Try: try/finally with no `except`: the finally block closes the loop and lets the "
        "error through."
    )
