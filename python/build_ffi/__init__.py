"""Build-time helpers of the Python binding (used by setup.py and the tests, never installed)."""
