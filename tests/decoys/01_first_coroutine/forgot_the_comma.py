"""Returns "Hello Ada!" without the comma: close to the greeting, but not the one asked for.

caught by: test_calling_greet_gives_a_coroutine_that_runs_only_when_awaited
says: mind the comma
"""


async def greet(name: str) -> str:
    return f"Hello {name}!"


async def greet_all(names: list[str]) -> list[str]:
    return [await greet(name) for name in names]
