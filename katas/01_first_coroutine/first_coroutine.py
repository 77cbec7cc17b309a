"""Kata 01: your first coroutine - async def, coroutine objects and await."""


async def greet(name: str) -> str:
    """Return the greeting "Hello, <name>!".

    Calling greet("Ada") only builds a coroutine object; awaiting it runs this body:

    >>> await greet("Ada")
    'Hello, Ada!'
    """
    raise NotImplementedError("write greet(): return the greeting")


async def greet_all(names: list[str]) -> list[str]:
    """Await greet(name) for each name, one after another; return the greetings in that order.

    >>> await greet_all(["Ada", "Grace"])
    ['Hello, Ada!', 'Hello, Grace!']
    """
    raise NotImplementedError("write greet_all(): await greet(name) for each name")
