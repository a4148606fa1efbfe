"""The tag schema: exact round trips for any feature name, MLflow's limits respected."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mlflow_debt import tags
from mlflow_debt.tags import FeatureRecord

KEY_CHARSET = re.compile(r"^[/\w.\- :]*$")
names = st.text(min_size=0, max_size=80)
dtypes = st.sampled_from(["float64", "int64", "str", "category", "datetime64[ns, UTC]", "bool"])
fingerprints = st.sampled_from(["num:+:m1.6:s1.2:na0", "cat:k3:h5d41ab:na5", "?", "bin:p0.3:na0"])
records = st.builds(FeatureRecord, names, dtypes, fingerprints)


def _valid_for_mlflow(encoded: dict[str, str]) -> None:
    for key, value in encoded.items():
        assert len(key) <= 250, key
        assert KEY_CHARSET.match(key), key
        assert key.startswith("mlflow_debt.")
        assert len(value) <= 8000


@settings(max_examples=300, deadline=None)
@given(st.lists(records, max_size=40))
def test_any_feature_set_round_trips_exactly(recs: list[FeatureRecord]) -> None:
    encoded = tags.encode(recs, "test")
    _valid_for_mlflow(encoded)
    decoded = tags.decode(encoded)
    assert decoded is not None
    assert decoded.complete
    assert [r.name for r in decoded.features] == [r.name for r in recs]
    assert decoded.digest == tags.digest(decoded.features)


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=40), st.integers(7_000, 30_000))
def test_names_longer_than_a_tag_value_are_split_and_rejoined(unit: str, length: int) -> None:
    name = (unit * (length // len(unit) + 1))[:length]
    encoded = tags.encode([FeatureRecord("a", "int64", "?"), FeatureRecord(name, "str", "?")], "x")
    _valid_for_mlflow(encoded)
    decoded = tags.decode(encoded)
    assert decoded is not None
    assert decoded.complete
    assert decoded.names == ["a", name]


def test_two_thousand_sixty_character_names_with_awkward_characters() -> None:
    awkward = "é,=[]()\"' ·:/"
    recs = [
        FeatureRecord(f"{i:04d}_{awkward}_" + "x" * (60 - 6 - len(awkward)), "float64", "?")
        for i in range(2000)
    ]
    assert all(len(r.name) == 60 for r in recs)
    encoded = tags.encode(recs, "sklearn:LogisticRegression")
    _valid_for_mlflow(encoded)
    assert encoded[tags.COUNT_KEY] == "2000"
    decoded = tags.decode(encoded)
    assert decoded is not None
    assert decoded.names == [r.name for r in recs]


def test_dtype_and_fingerprint_never_hold_the_separator() -> None:
    encoded = tags.encode([FeatureRecord("a · b", "weird · dtype", "fp · x")], "s")
    decoded = tags.decode(encoded)
    assert decoded is not None
    assert decoded.features[0].name == "a · b"
    assert tags.SEP not in decoded.features[0].dtype
    assert tags.SEP not in decoded.features[0].fingerprint


def test_the_chip_shows_the_name_first() -> None:
    encoded = tags.encode([FeatureRecord("user_age", "float64", "num:+:m1.6:s1.2:na0")], "s")
    assert encoded["mlflow_debt.f.000"] == "user_age · float64 · num:+:m1.6:s1.2:na0"


def test_stale_long_parts_from_an_earlier_capture_are_ignored() -> None:
    old = tags.encode([FeatureRecord("n" * 9000, "str", "?")], "old")
    new = tags.encode([FeatureRecord("short", "str", "?")], "new")
    merged = {**old, **new}  # set_tag overwrites; stale continuation keys stay behind
    decoded = tags.decode(merged)
    assert decoded is not None
    assert decoded.names == ["short"]
    assert decoded.complete


def test_fewer_features_than_an_earlier_capture_hides_the_old_ones() -> None:
    old = tags.encode([FeatureRecord(n, "int64", "?") for n in "abcdef"], "old")
    new = tags.encode([FeatureRecord(n, "int64", "?") for n in "xy"], "new")
    decoded = tags.decode({**old, **new})
    assert decoded is not None
    assert decoded.names == ["x", "y"]
    assert decoded.complete


def test_a_missing_feature_tag_marks_the_set_incomplete() -> None:
    encoded = tags.encode([FeatureRecord(n, "int64", "?") for n in "abc"], "s")
    del encoded["mlflow_debt.f.001"]
    decoded = tags.decode(encoded)
    assert decoded is not None
    assert not decoded.complete
    assert decoded.names == ["a", "c"]


def test_a_tampered_value_fails_the_digest() -> None:
    encoded = tags.encode([FeatureRecord("a", "int64", "?")], "s")
    encoded["mlflow_debt.f.000"] = "b · int64 · ?"
    decoded = tags.decode(encoded)
    assert decoded is not None
    assert not decoded.complete


def test_no_feature_tags_decodes_to_none() -> None:
    assert tags.decode({"mlflow.user": "me"}) is None
    assert not tags.has_features({})


def test_feast_feature_refs_are_read_when_no_own_tags() -> None:
    fs = tags.decode({"feast.feature_refs": "customer:user_age, customer:plan"})
    assert fs is not None
    assert fs.source == "feast"
    assert fs.names == ["customer:user_age", "customer:plan"]
    assert all(f.fingerprint == tags.UNKNOWN for f in fs.features)
