"""Collects the coffee with coffee.result() instead of awaiting the task: it is still brewing.

caught by: test_breakfast_is_the_toast_and_the_coffee
says: only of a task that has finished
"""

import asyncio


async def make_breakfast(brew_coffee, make_toast):
    coffee = asyncio.create_task(brew_coffee())
    toast = await make_toast()
    return [toast, coffee.result()]
