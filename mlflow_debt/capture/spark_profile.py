"""Fingerprints of Spark DataFrame columns, computed by Spark, in the pandas token format.

The tokens are the ones :mod:`mlflow_debt.capture.profile` makes for pandas (same buckets, same
formatting code), so one feature compares across engines. Spark does the work and only a handful
of numbers per column reach the driver:

1. the row count, to choose the sampling fraction: Spark's own statistic when the plan has one
   (a cached DataFrame that has been materialised, as Spark ML advises for training data),
   else a ``count()`` job;
2. a seeded ``sample()`` of about :data:`~mlflow_debt.capture.profile.MAX_ROWS` rows of the
   feature columns (sampled inside the aggregation's own scan, not a separate pass), and over it
   **one aggregation job**, written as SQL text and sent in one call: for numeric columns
   ``percentile_approx`` (the SQL form of ``approxQuantile``; relative error 1/1,000) at the
   minimum, 1st, 25th, 50th, 75th and 99th percentiles and maximum of the finite values, the null
   count (null or NaN) and the count of values that are not whole (integrality), packed in one
   sum; a boolean's null count and share of ``True``; the null count of every other column. A
   cached input of at most :data:`ONE_TASK_ROWS` rows is aggregated in one task (no shuffle);
3. only for the numeric columns whose token needs them (a binary column, or one whose IQR is
   zero: sparse counts, flags, constants): one more aggregation over the same seeded sample for
   their mean and population standard deviation. Most columns need neither;
4. only when string columns are read: one grouped job over the same (cached) sample for the
   categories holding at least 1% of the rows (at most 50 per column) and their counts.

The seed is fixed, so the same data gives the same sample and the same token; another sample of
the same distribution gives the same token but for the bucket-edge noise that
:func:`~mlflow_debt.capture.fingerprint.same_definition` tolerates.
"""

from __future__ import annotations

from typing import Any

from mlflow_debt.capture import fingerprint, profile
from mlflow_debt.tags import UNKNOWN, FeatureRecord

SEED = 20_240_601
#: percentile_approx's accuracy: rank error at most 1/1,000 of the ~10,000 sampled rows, far
#: below what a 0.1-decade bucket can see.
ACCURACY = 1_000
_QUANTILES = [q / 100 for q in fingerprint.QUANTILES]
_NUMERIC = {"ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType"}
#: A numeric column's null count and count of values that are not whole travel in one sum
#: (``na + frac * PACK``): one aggregate instead of two, a tenth of the job's time.
PACK = 1 << 32
#: A cached input of at most this many rows is aggregated in one task (no shuffle, whose fixed
#: cost is most of the job on a small input); a larger or uncached one keeps its parallelism.
ONE_TASK_ROWS = 2_000_000


def _kind(data_type: Any) -> str:
    name = type(data_type).__name__
    if name in _NUMERIC or name == "DecimalType":
        return "numeric"
    if name == "BooleanType":
        return "bool"
    if name in ("StringType", "VarcharType", "CharType"):
        return "string"
    if name in ("DateType", "TimestampType", "TimestampNTZType"):
        return "datetime"
    return "other"


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def describe(
    df: Any, names: list[str], chains: dict[str, str] | None = None
) -> list[FeatureRecord]:
    """One record per name (a column of ``df``), with its Spark SQL type and fingerprint."""
    from pyspark.sql import functions as F

    chains = chains or {}
    fields = {f.name: f for f in df.schema.fields}
    kinds = {n: _kind(fields[n].dataType) for n in names}
    total = _row_count(df)
    sample = df.select(*[F.col(_quote(n)).alias(f"c{i}") for i, n in enumerate(names)])
    if total > profile.MAX_ROWS:
        sample = sample.sample(False, min(1.0, profile.MAX_ROWS / total), seed=SEED)
    if total <= ONE_TASK_ROWS and _cached(df):
        sample = sample.coalesce(1)
    strings = [i for i, n in enumerate(names) if kinds[n] == "string"]
    if strings:
        sample = sample.cache()
    try:
        stats = _aggregate(sample, names, kinds)
        stats.update(_moments(sample, names, kinds, stats))
        cats = _categories(sample, strings, stats) if strings else {}
    finally:
        if strings:
            sample.unpersist()
    records = []
    for i, n in enumerate(names):
        fp = _fingerprint(kinds[n], i, stats, cats.get(i, []))
        if fp != UNKNOWN and chains.get(n):
            fp = fingerprint.with_preprocessing(fp, chains[n])
        records.append(FeatureRecord(n, fields[n].dataType.simpleString(), fp))
    return records


def _row_count(df: Any) -> int:
    """The DataFrame's row count: Spark's own statistic when it has one (a cached, materialised
    DataFrame knows it; no job), else ``count()``."""
    try:
        known = df._jdf.queryExecution().optimizedPlan().stats().rowCount()
        if known.isDefined():
            return int(str(known.get()))
    except Exception:  # noqa: BLE001  Spark/Py4J raise anything; capture never fails the fit
        pass
    return int(df.count())


def _cached(df: Any) -> bool:
    try:
        return bool(df.is_cached)
    except Exception:  # noqa: BLE001  Spark/Py4J raise anything; capture never fails the fit
        return False


def _aggregate(sample: Any, names: list[str], kinds: dict[str, str]) -> dict[str, Any]:
    """One global aggregation over ``sample``: few, cheap aggregates per column.

    Written as SQL text and handed to Spark in one call (``selectExpr``): building the same
    aggregates from ``pyspark.sql.functions`` takes hundreds of round trips to the JVM, a fifth
    of the job's time. Counting aggregates instead of helper columns (a numeric column's two
    counts packed in one sum, see :data:`PACK`), and ``percentile_approx`` only for numeric
    columns (a boolean needs its share of ``True`` alone). The names are the ``c<i>`` aliases
    :func:`describe` gives, never user text.
    """
    quantiles = ", ".join(repr(q) for q in [0.0, *_QUANTILES, 1.0])
    exprs = ["count(1) AS n"]
    for i, n in enumerate(names):
        c = f"c{i}"
        if kinds[n] == "numeric":
            x, f = _finite(c)
            exprs += [
                # nulls (or NaN) + PACK * the finite values that are not whole
                f"sum(CASE WHEN {x} IS NULL OR isnan({x}) THEN 1 "
                f"WHEN {f} != round({f}) THEN {PACK} ELSE 0 END) AS nf{i}",
                # min, the five quantiles, max: null when no value is finite
                f"percentile_approx({f}, array({quantiles}), {ACCURACY}) AS q{i}",
            ]
        elif kinds[n] == "bool":
            exprs += [f"count_if({c} IS NULL) AS na{i}", f"avg(CAST({c} AS DOUBLE)) AS mean{i}"]
        else:
            exprs.append(f"count_if({c} IS NULL) AS na{i}")
    row = sample.selectExpr(*exprs).first()
    stats = row.asDict() if row is not None else {}
    for i, n in enumerate(names):
        if kinds[n] == "numeric":
            packed = int(stats.pop(f"nf{i}", None) or 0)
            stats[f"na{i}"], stats[f"frac{i}"] = packed % PACK, packed // PACK
    return stats


def _finite(c: str) -> tuple[str, str]:
    """SQL for column ``c`` as a double, and its finite values (null for null, NaN, infinity,
    which every aggregate skips)."""
    x = f"CAST({c} AS DOUBLE)"
    return x, f"CASE WHEN NOT isnan({x}) AND abs({x}) != double('inf') THEN {x} END"


def _moments(
    sample: Any, names: list[str], kinds: dict[str, str], stats: dict[str, Any]
) -> dict[str, Any]:
    """Mean and population std of the numeric columns whose token needs them: a binary column
    (its share of ones) and one whose IQR is zero (sparse counts, flags). Most columns need
    neither, so the first job leaves them out; when some do, one more aggregation over the same
    seeded sample computes them."""
    exprs = []
    for i, n in enumerate(names):
        q = stats.get(f"q{i}")
        if kinds[n] != "numeric" or not q:
            continue
        lowest, _, q1, _, q3, _, highest = (float(v) for v in q)
        binary = int(stats.get(f"frac{i}") or 0) == 0 and lowest >= 0.0 and highest <= 1.0
        if binary or q3 == q1:
            _, f = _finite(f"c{i}")
            exprs += [f"avg({f}) AS mean{i}", f"stddev_pop({f}) AS std{i}"]
    if not exprs:
        return {}
    row = sample.selectExpr(*exprs).first()
    return row.asDict() if row is not None else {}


def _categories(sample: Any, strings: list[int], stats: dict[str, Any]) -> dict[int, list[str]]:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    n = int(stats.get("n") or 0)
    pairs = F.explode(
        F.array(*[F.struct(F.lit(i).alias("i"), F.col(f"c{i}").alias("v")) for i in strings])
    ).alias("p")
    counts = (
        sample.select(pairs)
        .select("p.i", "p.v")
        .where(F.col("v").isNotNull())
        .groupBy("i", "v")
        .count()
    )
    threshold = F.lit(None)
    for i in strings:  # at least 1% of the column's non-null rows
        share = (n - int(stats.get(f"na{i}") or 0)) * fingerprint.MIN_CATEGORY_SHARE
        threshold = F.when(F.col("i") == i, F.lit(share)).otherwise(threshold)
    rank = F.row_number().over(Window.partitionBy("i").orderBy(F.col("count").desc(), F.col("v")))
    top = (
        counts.where(F.col("count") >= threshold)
        .withColumn("r", rank)
        .where(F.col("r") <= fingerprint.MAX_CATEGORIES)
    )
    out: dict[int, list[str]] = {}
    for row in top.select("i", "v").collect():  # at most 50 rows per column
        out.setdefault(int(row["i"]), []).append(str(row["v"]))
    return out


def _fingerprint(kind: str, i: int, stats: dict[str, Any], cats: list[str]) -> str:
    n = int(stats.get("n") or 0)
    if n == 0 or kind == "other":
        return UNKNOWN
    na = fingerprint.na_bucket(int(stats.get(f"na{i}") or 0) / n)
    if kind == "datetime":
        return fingerprint.datetime(na)
    if kind == "string":
        if n - int(stats.get(f"na{i}") or 0) == 0:
            return f"cat:empty:{na}"
        names = sorted(cats)
        return f"cat:k{len(names)}:h{fingerprint.short_hash(chr(31).join(names))}:{na}"
    mean = stats.get(f"mean{i}")
    if kind == "bool":
        return fingerprint.boolean(float(mean or 0.0), na)
    if not stats.get(f"q{i}"):
        return f"num:empty:{na}"
    lowest, *quantiles, highest = (float(q) for q in stats[f"q{i}"])
    whole = int(stats.get(f"frac{i}") or 0) == 0
    binary = whole and lowest >= 0.0 and highest <= 1.0
    std = float(stats.get(f"std{i}") or 0.0)
    return fingerprint.numeric_token(binary, whole, quantiles, float(mean or 0.0), std, na)
