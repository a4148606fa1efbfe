"""The feature-tag schema, both directions. The only module that knows the key names.

A run's feature set is written as plain ``str -> str`` run tags under the prefix ``mlflow_debt.``
(never ``mlflow.``, which the MLflow UI hides)::

    mlflow_debt.schema      1                      schema version (+ ";long=I:K,..." see below)
    mlflow_debt.n_features  3
    mlflow_debt.digest      9f2c4e1a0b3d5e6f       sha256 of the ordered (name, dtype, fingerprint)
    mlflow_debt.source      sklearn:Pipeline       who recorded it (sklearn:<class>, log_features,
                                                   backfill:dataset, backfill:signature)
    mlflow_debt.f.000       user_age · float64 · num:+:mp1.6:s1.1:na0
    mlflow_debt.f.001       plan · str · cat:k3:h5d41
    ...
    mlflow_debt.unread      16 9f2c4e1a0b3d5e6f: a, b  only when columns were handed in and not
                                                   read (count, the digest it belongs to, names)

Feature names live in tag *values*, never raw in keys, so any name round-trips exactly (commas,
``=``, brackets, quotes, unicode, newlines). Each per-feature value is
``NAME · DTYPE · FINGERPRINT`` with the name up front so the UI's tag chips read well; it is
parsed from the right, and dtype and fingerprint never contain the separator, so the name may
contain anything.

MLflow silently truncates tag values beyond 8,000 characters. A value longer than
:data:`CHUNK` is split: ``mlflow_debt.f.007`` holds the first part, ``mlflow_debt.f.007.1`` ... the
rest, and the schema tag lists which features were split and into how many parts
(``1;long=7:3``). The schema tag is written on every capture, so stale parts are never read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

PREFIX = "mlflow_debt."
SCHEMA_KEY = PREFIX + "schema"
COUNT_KEY = PREFIX + "n_features"
DIGEST_KEY = PREFIX + "digest"
SOURCE_KEY = PREFIX + "source"
FEATURE_PREFIX = PREFIX + "f."
#: The run's other recorded fits, compact (written by capture; see docs/lineage.md, Attribution).
OTHER_FITS_KEY = PREFIX + "other_fits"
#: Columns a fit was handed but its model does not read (see :func:`unread_value`). Written
#: only when there are some; bound to the feature set by its digest, so it is never read stale.
UNREAD_KEY = PREFIX + "unread"
#: Longest list of names in the unread tag (the count is always whole).
UNREAD_MAX = 2_000
#: Optional user tag naming the consumer of a run whose model is not registered.
CONSUMER_KEY = PREFIX + "consumer"
#: On a model version: where mlflow-debt copied its feature tags from (``models:/m-...`` or
#: ``runs:/RUN_ID``). A version whose feature tags lack it was tagged by hand: never rewritten.
FEATURES_FROM_KEY = PREFIX + "features_from"
#: On a registered model or version: the report's findings about it, in words (``report
#: --annotate``, ``serve``); written and removed only by mlflow-debt.
FINDINGS_KEY = PREFIX + "findings"
#: Feast's MLflow integration: comma-separated ``view:feature`` references.
FEAST_KEY = "feast.feature_refs"

SCHEMA_VERSION = "1"
SEP = " · "
UNKNOWN = "?"
#: Longest value written in one tag (MLflow truncates silently at 8,000).
CHUNK = 7_000

#: Tag keys every capture writes (the per-feature keys come on top).
FIXED_KEYS = (SCHEMA_KEY, COUNT_KEY, DIGEST_KEY, SOURCE_KEY)


@dataclass(frozen=True)
class FeatureRecord:
    """One feature a model was trained on."""

    name: str
    dtype: str
    fingerprint: str = UNKNOWN


@dataclass(frozen=True)
class FeatureSet:
    """A run's features in training column order, and who recorded them."""

    features: tuple[FeatureRecord, ...]
    source: str = ""
    digest: str = ""
    #: False when the tags were incomplete or did not match their digest.
    complete: bool = True

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]


def _clean(token: str) -> str:
    """dtype and fingerprint are single tokens: no separator, no surrounding space."""
    token = " ".join(str(token).split()).replace("·", ".")
    return token or UNKNOWN


def digest(records: Iterable[FeatureRecord]) -> str:
    """A short, stable digest of an ordered feature set."""
    h = hashlib.sha256()
    for r in records:
        h.update(f"{r.name}\x1f{r.dtype}\x1f{r.fingerprint}\x1e".encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def feature_key(index: int, width: int, part: int = 0) -> str:
    key = f"{FEATURE_PREFIX}{index:0{width}d}"
    return key if part == 0 else f"{key}.{part}"


def _width(n: int) -> int:
    return max(3, len(str(max(n - 1, 0))))


def encode(
    records: Iterable[FeatureRecord], source: str, *, unread: Sequence[str] = ()
) -> dict[str, str]:
    """The tags that describe ``records`` (in order), ready for ``log_batch``; ``unread``: the
    columns handed in and not read (:data:`UNREAD_KEY`, only when there are some)."""
    recs = [FeatureRecord(r.name, _clean(r.dtype), _clean(r.fingerprint)) for r in records]
    width = _width(len(recs))
    tags: dict[str, str] = {}
    long_parts: list[str] = []
    for i, r in enumerate(recs):
        value = f"{r.name}{SEP}{r.dtype}{SEP}{r.fingerprint}"
        parts = [value[j : j + CHUNK] for j in range(0, len(value), CHUNK)] or [""]
        if len(parts) > 1:
            long_parts.append(f"{i}:{len(parts)}")
        for p, chunk in enumerate(parts):
            tags[feature_key(i, width, p)] = chunk
    schema = SCHEMA_VERSION + (";long=" + ",".join(long_parts) if long_parts else "")
    tags[SCHEMA_KEY] = schema
    tags[COUNT_KEY] = str(len(recs))
    tags[DIGEST_KEY] = digest(recs)
    tags[SOURCE_KEY] = _clean(source)
    if unread:
        tags[UNREAD_KEY] = unread_value(unread, tags[DIGEST_KEY])
    return tags


def unread_value(names: Sequence[str], digest_: str) -> str:
    """``COUNT DIGEST: name, name, ...``: how many columns were handed in and not read, the
    digest of the feature set this belongs to, then their names (cut at :data:`UNREAD_MAX`
    characters, ending ``...``). E.g. ``16 6fd70a36c6ec5693: plan, region, ...``."""
    listed = ", ".join(_clean(n).replace(",", " ") for n in names)
    if len(listed) > UNREAD_MAX:
        listed = listed[:UNREAD_MAX].rsplit(", ", 1)[0] + ", ..."
    return f"{len(names)} {digest_}: {listed}"


def decode_unread(tags: Mapping[str, str]) -> int | None:
    """How many columns the recorded fit was handed and did not read (``None``: not recorded,
    or the tag belongs to an earlier feature set of the run)."""
    value = tags.get(UNREAD_KEY)
    if not value:
        return None
    count, _, rest = value.partition(" ")
    stored = rest.partition(":")[0]
    if not count.isdigit() or stored != tags.get(DIGEST_KEY):
        return None
    return int(count)


def _parse_long(schema: str) -> dict[int, int]:
    _, _, rest = schema.partition(";long=")
    out: dict[int, int] = {}
    for item in filter(None, rest.split(",")):
        idx, _, parts = item.partition(":")
        if idx.isdigit() and parts.isdigit():
            out[int(idx)] = int(parts)
    return out


def _parse_value(value: str) -> FeatureRecord:
    pieces = value.rsplit(SEP, 2)
    if len(pieces) != 3:
        return FeatureRecord(value, UNKNOWN, UNKNOWN)
    return FeatureRecord(*pieces)


def has_features(tags: Mapping[str, str]) -> bool:
    """Whether ``tags`` carry a feature set (mlflow-debt's own or Feast's)."""
    return SCHEMA_KEY in tags or bool(tags.get(FEAST_KEY))


def decode(tags: Mapping[str, str]) -> FeatureSet | None:
    """The feature set stored in a run's ``tags``, or ``None`` if it carries none.

    Reads mlflow-debt's own tags; when those are absent, Feast's ``feast.feature_refs``.
    """
    schema = tags.get(SCHEMA_KEY)
    if schema is None:
        return decode_feast(tags)
    try:
        n = int(tags.get(COUNT_KEY, ""))
    except ValueError:
        return FeatureSet((), tags.get(SOURCE_KEY, ""), tags.get(DIGEST_KEY, ""), complete=False)
    width = _width(n)
    long_parts = _parse_long(schema)
    records = []
    complete = True
    for i in range(n):
        head = tags.get(feature_key(i, width))
        if head is None:
            complete = False
            continue
        rest = [tags.get(feature_key(i, width, p), "") for p in range(1, long_parts.get(i, 1))]
        records.append(_parse_value(head + "".join(rest)))
    stored = tags.get(DIGEST_KEY, "")
    if complete and stored and stored != digest(records):
        complete = False
    return FeatureSet(tuple(records), tags.get(SOURCE_KEY, ""), stored, complete)


def decode_feast(tags: Mapping[str, str]) -> FeatureSet | None:
    """Feast's ``feast.feature_refs`` (``view:feature,view:feature``) as a feature set."""
    refs = tags.get(FEAST_KEY)
    if not refs:
        return None
    names = [r.strip() for r in refs.split(",") if r.strip()]
    records = tuple(FeatureRecord(name, UNKNOWN, UNKNOWN) for name in names)
    return FeatureSet(records, "feast", digest(records))


def is_feature_tag(key: str) -> bool:
    """Whether ``key`` belongs to a recorded feature set (and is replaced by a new capture)."""
    return key in FIXED_KEYS or key.startswith(FEATURE_PREFIX)


def presence_filters() -> tuple[str, ...]:
    """``search_runs`` filter strings that together select every run carrying a feature set.

    One per tag family (MLflow's filter syntax has no OR): mlflow-debt's own tags, then Feast's.
    A run may match both: readers skip, in the second, runs that carry :data:`SCHEMA_KEY`
    (:func:`decode` prefers those tags anyway). ``LIKE '%'`` (any value) rather than
    ``IS NOT NULL``, which older MLflow releases' filter grammar lacks.
    """
    return (f"tags.`{SCHEMA_KEY}` LIKE '%'", f"tags.`{FEAST_KEY}` LIKE '%'")
