"""Temporary: tests/test_spark_e2e.py still imports this name; the fixtures live in support.lineage.

Delete this file once tests/test_spark*.py have moved to tests/capture/ and import support.*.
"""

from support.lineage import register

__all__ = ["register"]
