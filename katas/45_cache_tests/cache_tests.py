"""Tests for LoadingCache (given/loading_cache.py): each promise of its docstring."""

from loading_cache import LoadingCache


async def test_write_your_first_test() -> None:
    raise NotImplementedError(
        "write tests for LoadingCache here, one per promise of its docstring, and delete this one"
    )
