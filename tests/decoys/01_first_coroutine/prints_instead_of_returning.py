"""Prints the greeting inside greet instead of returning it, so awaiting greet gives None.

caught by: test_calling_greet_gives_a_coroutine_that_runs_only_when_awaited
says: print the greeting instead of returning it
"""


async def greet(name: str) -> None:
    print(f"Hello, {name}!")


async def greet_all(names: list[str]) -> list[None]:
    return [await greet(name) for name in names]
