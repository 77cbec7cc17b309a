"""Calls greet(name) in greet_all without await, so it returns coroutine objects, not greetings.

caught by: test_greet_all_gives_the_greetings_in_the_order_of_the_names
says: never awaited
"""


async def greet(name: str) -> str:
    return f"Hello, {name}!"


async def greet_all(names: list[str]) -> list[str]:
    return [greet(name) for name in names]
