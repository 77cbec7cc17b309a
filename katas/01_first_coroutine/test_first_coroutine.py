import inspect

import first_coroutine
from harness import Timeline

NAMES = ["Ada", "Grace", "Linus"]
GREETINGS = ["Hello, Ada!", "Hello, Grace!", "Hello, Linus!"]
NEVER_AWAITED = (
    "coroutine objects that were never awaited. Calling greet(name) only builds a coroutine; "
    "nothing in it runs, and no greeting exists, until it is awaited.\n"
    "Try: `await greet(name)` for each name, and keep what the await gives back."
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


async def test_calling_greet_gives_a_coroutine_that_runs_only_when_awaited() -> None:
    called = first_coroutine.greet("Ada")
    assert inspect.iscoroutine(called), (
        f"greet('Ada') returned a {type(called).__name__} ({called!r}), not a coroutine: did you "
        "write `def` instead of `async def`? Only an `async def` function gives a coroutine "
        "object when called, one that `await` can run.\nTry: async def greet(name: str) -> str:"
    )
    state = inspect.getcoroutinestate(called)  # CORO_CREATED: built, but not one line has run
    greeting = await called  # awaiting runs the body to its end and gives back its value
    assert state == inspect.CORO_CREATED, f"greet('Ada') had already started ({state}) when called"
    assert greeting == "Hello, Ada!", wrong_greeting("await greet('Ada')", greeting, "Hello, Ada!")


async def test_awaiting_greet_gives_the_greeting() -> None:
    for name in ("Ada", "Grace"):
        greeting = await first_coroutine.greet(name)
        expected = f"Hello, {name}!"
        assert greeting == expected, wrong_greeting(f"await greet({name!r})", greeting, expected)


async def test_greet_all_gives_the_greetings_in_the_order_of_the_names() -> None:
    call = f"greet_all({NAMES})"
    greetings = await first_coroutine.greet_all(NAMES)
    unawaited = close_coroutines(greetings)
    assert not unawaited, f"{call} returned {greetings!r}: {NEVER_AWAITED}"
    assert greetings == GREETINGS, (
        f"{call} returned {greetings!r}, expected {GREETINGS!r}: one greeting per name, in the "
        "order of the names, each being what `await greet(name)` gives back.\n"
        "Try: await greet(name) for every name in turn and collect the results in a list."
    )


async def test_greet_all_awaits_greet_once_per_name_in_order(timeline: Timeline) -> None:
    timeline.spy(first_coroutine, "greet")
    call = f"greet_all({NAMES})"
    unawaited = close_coroutines(await first_coroutine.greet_all(NAMES))
    expected = [f"greet({name!r})" for name in NAMES]
    likely = (
        f"It returned {unawaited} {NEVER_AWAITED}"
        if unawaited
        else "Try: await greet(name) inside greet_all rather than building the greetings yourself."
    )
    assert timeline.started == expected, (
        f"{call} ran {timeline.started or 'no greet() at all'}, expected {expected}: greet_all "
        f"must await greet(name) once per name, in the order of the names.\n{likely}"
    )
