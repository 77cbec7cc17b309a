from __future__ import annotations

import inspect

import first_coroutine
from harness import Timeline, fail

NAMES = ["Ada", "Grace", "Linus"]
GREETINGS = ["Hello, Ada!", "Hello, Grace!", "Hello, Linus!"]
NEVER_AWAITED = (
    "coroutine objects that were never awaited. Calling greet(name) only builds a coroutine; "
    "nothing in it runs, and no greeting exists, until it is awaited.\n"
    "Try: `await greet(name)` for each name, and keep what the await gives back."
)


async def test_calling_greet_gives_a_coroutine_that_runs_only_when_awaited() -> None:
    called = first_coroutine.greet("Ada")
    if not inspect.iscoroutine(called):
        fail(
            f"greet('Ada') returned a {type(called).__name__} ({called!r}), not a coroutine: did "
            "you write `def` instead of `async def`? Only an `async def` function gives a "
            "coroutine object when called, one that `await` can run.\n"
            "Try: async def greet(name: str) -> str:"
        )
    state = inspect.getcoroutinestate(called)  # CORO_CREATED: built, but not one line has run
    greeting = await called  # awaiting runs the body to its end and gives back its value
    if state != inspect.CORO_CREATED:
        fail(f"greet('Ada') had already started ({state}) when called, before any await.")
    if greeting != "Hello, Ada!":
        fail(wrong_greeting("await greet('Ada')", greeting, "Hello, Ada!"))


async def test_awaiting_greet_gives_the_greeting() -> None:
    for name in ("Ada", "Grace"):
        greeting = await first_coroutine.greet(name)
        expected = f"Hello, {name}!"
        if greeting != expected:
            fail(wrong_greeting(f"await greet({name!r})", greeting, expected))


async def test_greet_all_gives_the_greetings_in_the_order_of_the_names() -> None:
    call = f"greet_all({NAMES})"
    greetings = await first_coroutine.greet_all(NAMES)
    if close_coroutines(greetings):
        fail(f"{call} returned {greetings!r}: {NEVER_AWAITED}")
    if greetings != GREETINGS:
        fail(
            f"{call} returned {greetings!r}, expected {GREETINGS!r}: one greeting per name, in "
            "the order of the names, each being what `await greet(name)` gives back.\n"
            "Try: await greet(name) for every name in turn and collect the results in a list."
        )


async def test_greet_all_of_no_names_is_an_empty_list() -> None:
    greetings = await first_coroutine.greet_all([])
    if greetings != []:
        fail(
            f"greet_all([]) returned {greetings!r}, expected []: no names, no greetings.\n"
            "Try: build the list from the names you are given, one greeting per name."
        )


async def test_greet_all_awaits_greet_once_per_name_in_order(timeline: Timeline) -> None:
    timeline.spy(first_coroutine, "greet")
    call = f"greet_all({NAMES})"
    unawaited = close_coroutines(await first_coroutine.greet_all(NAMES))
    expected = [f"greet({name!r})" for name in NAMES]
    if unawaited:
        likely = f"It returned {unawaited} {NEVER_AWAITED}"
    elif not timeline.started:
        likely = (
            "greet() never ran, yet greet_all returned greetings: it builds them itself.\n"
            "Try: await greet(name) inside greet_all rather than building the greetings yourself."
        )
    else:
        likely = "Try: one `await greet(name)` per name, in the order of the names."
    if timeline.started != expected:
        fail(
            f"{call} ran {timeline.started or 'no greet() at all'}, expected {expected}: "
            f"greet_all must await greet(name) once per name, in the order of the names.\n{likely}"
        )


def wrong_greeting(call: str, got: object, expected: str) -> str:
    """The message for a wrong greeting: what came back, and the likely mistake."""
    if got is None:
        mistake = (
            "it gave None. Did you print the greeting instead of returning it? print() only "
            "shows text; `return` hands the value to whoever awaits the coroutine."
        )
    elif isinstance(got, str):
        mistake = "close, but mind the comma, the space and the exclamation mark."
    else:
        mistake = f"a {type(got).__name__} is not a greeting."
    return f'{call} gave {got!r}, expected {expected!r}: {mistake}\nTry: return f"Hello, {{name}}!"'


def close_coroutines(returned: object) -> int:
    """Close the coroutines in `returned` (so they cannot warn in a later test); count them."""
    items = returned if isinstance(returned, list) else [returned]
    coroutines = [item for item in items if inspect.iscoroutine(item)]
    for coroutine in coroutines:
        coroutine.close()
    return len(coroutines)
