"""The harness's parts; kata tests import them from `harness` (katas/harness.py)."""
