"""Builds the greetings inside greet_all instead of awaiting greet, so greet never runs there.

caught by: test_greet_all_awaits_greet_once_per_name_in_order
says: building the greetings yourself
"""


async def greet(name: str) -> str:
    return f"Hello, {name}!"


async def greet_all(names: list[str]) -> list[str]:
    return [f"Hello, {name}!" for name in names]
