"""Awaits brew_coffee() itself instead of starting a task, so it stands by the coffee machine.

caught by: test_the_coffee_brews_in_a_task_of_its_own
says: awaited brew_coffee() directly
"""


async def make_breakfast(brew_coffee, make_toast):
    coffee = await brew_coffee()
    toast = await make_toast()
    return [toast, coffee]
