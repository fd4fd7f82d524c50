"""Fixtures of the pure tier (the shared server fixtures live in tests/conftest.py)."""

from test_engine_support import kit  # noqa: F401  (fixture: job engines against a local server)
