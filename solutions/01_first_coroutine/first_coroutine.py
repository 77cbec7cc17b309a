"""Kata 01: your first coroutine - async def, coroutine objects and await."""


async def greet(name: str) -> str:
    """Return the greeting "Hello, <name>!".

    Calling greet("Ada") only builds a coroutine object; awaiting it runs this body:

    >>> await greet("Ada")
    'Hello, Ada!'
    """
    # `async def` makes a coroutine function: this body runs only when the coroutine is awaited.
    return f"Hello, {name}!"


async def greet_all(names: list[str]) -> list[str]:
    """Await greet(name) for each name, one after another; return the greetings in that order.

    >>> await greet_all(["Ada", "Grace"])
    ['Hello, Ada!', 'Hello, Grace!']
    """
    # `await` runs each coroutine to its end and hands back the value it returned.
    return [await greet(name) for name in names]
