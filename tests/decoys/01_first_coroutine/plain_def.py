"""Writes `def greet` instead of `async def greet`, so calling it returns the string at once.

caught by: test_calling_greet_gives_a_coroutine_that_runs_only_when_awaited
says: did you write `def` instead of `async def`?
"""


def greet(name: str) -> str:
    return f"Hello, {name}!"


async def greet_all(names: list[str]) -> list[str]:
    return [await greet(name) for name in names]
