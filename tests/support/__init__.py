"""Helpers shared by test modules in several folders (tests/ is on sys.path through tests/conftest.py)."""
