"""Temporary: tests/test_spark*.py still import this name; the fixtures live in support.engines.

Delete this file once tests/test_spark*.py have moved to tests/capture/ and import support.*.
"""

from support.engines import _absent, java_missing, require, spark

__all__ = ["_absent", "java_missing", "require", "spark"]
