"""Fingerprints of Spark DataFrame columns, computed by Spark, in the pandas token format.

The tokens are the ones :mod:`mlflow_debt.capture.profile` makes for pandas (same buckets, same
formatting code), so one feature compares across engines. Spark does the work and only a handful
of numbers per column reach the driver:

1. the row count, to choose the sampling fraction: Spark's own statistic when the plan has one
   (a cached DataFrame that has been materialised, as Spark ML advises for training data),
   else a ``count()`` job;
2. a seeded ``sample()`` of about :data:`~mlflow_debt.capture.profile.MAX_ROWS` rows of the
   feature columns (sampled inside the aggregation's own scan, not a separate pass), and over it
   **one aggregation job** (:func:`_aggregate`): the columns stacked as rows, grouped by column,
   five aggregates for all of them (the row count; the null or NaN count and the count of
   values that are not whole, packed in one sum; ``percentile_approx``, the SQL form of
   ``approxQuantile`` with relative error 1/1,000, at the minimum, 1st, 25th, 50th, 75th and
   99th percentiles and maximum of the finite values; their mean and population std). A cached
   input of at most :data:`ONE_TASK_ROWS` rows is scanned and aggregated in one task (no
   shuffle); a larger or uncached one is scanned in parallel and only its sample is brought
   together;
3. only when string columns are read: one grouped job over the same (cached) sample for the
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
    return with_chains(raw(df, names), names, chains or {})


def with_chains(
    raw_records: dict[str, FeatureRecord], names: list[str], chains: dict[str, str]
) -> list[FeatureRecord]:
    """The records of ``names`` from :func:`raw`'s, each fingerprint with its column's
    preprocessing chain (the stages between the DataFrame and the model)."""
    records = []
    for n in names:
        record = raw_records[n]
        if record.fingerprint != UNKNOWN and chains.get(n):
            fp = fingerprint.with_preprocessing(record.fingerprint, chains[n])
            record = FeatureRecord(record.name, record.dtype, fp)
        records.append(record)
    return records


def raw(df: Any, names: list[str]) -> dict[str, FeatureRecord]:
    """Name -> record of the column's values alone (no preprocessing chain), by Spark's jobs.

    A column's token does not depend on which other columns are profiled with it: the sample's
    rows depend on the seed and the data only, and every aggregate is per column.
    """
    fields = {f.name: f for f in df.schema.fields}
    kinds = {n: _kind(fields[n].dataType) for n in names}
    total = _row_count(df)
    sample = df.selectExpr(*[f"{_quote(n)} AS c{i}" for i, n in enumerate(names)])
    if total > profile.MAX_ROWS:
        sample = sample.sample(False, min(1.0, profile.MAX_ROWS / total), seed=SEED)
    # One task scans and aggregates a small cached input; a larger or uncached one is scanned
    # in parallel and only its (small) sample is brought together.
    one_task = total <= ONE_TASK_ROWS and _cached(df)
    sample = sample.coalesce(1) if one_task else sample.repartition(1)
    strings = [i for i, n in enumerate(names) if kinds[n] == "string"]
    if strings:
        sample = sample.cache()
    try:
        stats = _aggregate(sample, names, kinds)
        cats = _categories(sample, strings, stats) if strings else {}
    finally:
        if strings:
            sample.unpersist()
    return {
        n: FeatureRecord(
            n, fields[n].dataType.simpleString(), _fingerprint(kinds[n], i, stats, cats.get(i, []))
        )
        for i, n in enumerate(names)
    }


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
    """One grouped aggregation over ``sample``: its columns stacked as ``(i, x, m)`` rows.

    ``x`` is the column's value as a double (numbers and booleans; null for the other kinds),
    ``m`` whether it is null. Grouped by ``i``, five aggregates do every column at once: the row
    count, the null (or NaN) count and the count of values that are not whole packed in one sum
    (see :data:`PACK`), ``percentile_approx`` of the finite values (minimum, the five quantiles,
    maximum), and their mean and population std (a boolean's share of ``True``; the fallback of
    a column whose IQR is zero). Five aggregates instead of a few per column: Spark's analysis
    and planning of the job, not its rows, are most of its cost. The names in the SQL text are
    the ``c<i>`` aliases :func:`raw` gives, never user text.
    """
    from pyspark.sql import functions as F

    parts = []
    for i, n in enumerate(names):
        number = kinds[n] in ("numeric", "bool")
        value = f"CAST(c{i} AS DOUBLE)" if number else "CAST(NULL AS DOUBLE)"
        parts.append(f"{i}, {value}, c{i} IS NULL")
    stacked = sample.selectExpr(f"stack({len(names)}, {', '.join(parts)}) AS (i, x, m)")
    # The aggregates are built as Columns, not parsed: the finite value's expression is made
    # once and shared by four of them (parsing five SQL texts was a tenth of the job's cost).
    x, missing = F.col("x"), F.col("m")
    finite = F.when(~F.isnan(x) & (F.abs(x) != float("inf")), x)  # null for null, NaN, inf
    # nulls (or NaN) + PACK * the finite values that are not whole
    null_or_fraction = F.when(missing | F.isnan(x), 1).when(finite != F.round(finite), PACK)
    quantiles = [0.0, *_QUANTILES, 1.0]  # min, the five quantiles, max: null if none is finite
    rows = (
        stacked.groupBy("i")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum(null_or_fraction.otherwise(0)).alias("nf"),
            F.percentile_approx(finite, quantiles, ACCURACY).alias("q"),
            F.avg(finite).alias("mean"),
            F.stddev_pop(finite).alias("std"),
        )
        .collect()
    )
    stats: dict[str, Any] = {}
    for row in rows:  # one per column; none when the sample is empty
        i = int(row["i"])
        packed = int(row["nf"] or 0)
        stats["n"] = int(row["n"])
        stats[f"na{i}"], stats[f"frac{i}"] = packed % PACK, packed // PACK
        stats[f"q{i}"], stats[f"mean{i}"], stats[f"std{i}"] = row["q"], row["mean"], row["std"]
    return stats


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
