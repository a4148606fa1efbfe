"""Rendering ``mlflow-debt features`` and ``mlflow-debt backfill`` as text and JSON. Pure.

The JSON shapes are a stable interface (``docs/lineage.md``): keys are only ever added. Store
strings (feature names, dtypes, run names) go through :func:`~mlflow_debt.output.terminal_safe`
in text output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlflow_debt.output import dumps, terminal_safe, text_table

if TYPE_CHECKING:
    from mlflow_debt.capture.backfill import BackfillResult
    from mlflow_debt.tags import FeatureSet

__all__ = ["backfill_json", "backfill_text", "dumps", "features_json", "features_text"]


def features_json(run_id: str, fs: FeatureSet | None) -> dict[str, Any]:
    """The features a run was trained on, as JSON-ready data."""
    return {
        "run_id": run_id,
        "features": [
            {"name": f.name, "dtype": f.dtype, "fingerprint": f.fingerprint}
            for f in (fs.features if fs else ())
        ],
        "n_features": len(fs.features) if fs else 0,
        "digest": fs.digest if fs else None,
        "source": fs.source if fs else None,
        "complete": fs.complete if fs else None,
    }


def features_text(run_id: str, run_name: str | None, fs: FeatureSet | None) -> str:
    """The features a run was trained on, for a terminal: a header line and a table."""
    name = terminal_safe(run_name or run_id)
    rid = terminal_safe(run_id)
    if fs is None:
        return (
            f"Run {rid} ({name}) has no feature tags. Runs recorded before mlflow-debt was "
            "installed can get them with: mlflow-debt backfill"
        )
    lines = [
        terminal_safe(
            f"Run {run_id} ({run_name or run_id}): {len(fs.features)} features, "
            f"digest {fs.digest}, recorded by {fs.source}"
        )
    ]
    if not fs.complete:
        lines.append("Warning: the feature tags are incomplete or do not match their digest.")
    rows: list[tuple[str, ...]] = [("#", "name", "dtype", "fingerprint")]
    rows += [(str(i), f.name, f.dtype, f.fingerprint) for i, f in enumerate(fs.features)]
    # The index column is right-aligned, as before: pad it to four characters.
    width = max(4, *(len(r[0]) for r in rows))
    rows = [(r[0].rjust(width), *r[1:]) for r in rows]
    return "\n".join(lines + text_table(rows))


def backfill_json(result: BackfillResult, dry_run: bool) -> dict[str, Any]:
    return {
        "applied": not dry_run,
        "tagged": result.tagged,
        "from_dataset": result.tagged_from_dataset,
        "from_signature": result.tagged_from_signature,
        "untaggable": result.untaggable,
        "already_tagged": result.already_tagged,
        "models_from_signature": result.models_from_signature,
        "models_untaggable": result.models_untaggable,
        "models_already_tagged": result.models_already_tagged,
        "versions_tagged": [{"name": n, "version": v} for n, v in result.versions_tagged],
        "versions_untaggable": [{"name": n, "version": v} for n, v in result.versions_untaggable],
        "versions_already_tagged": result.versions_already_tagged,
    }


def backfill_text(result: BackfillResult, dry_run: bool) -> str:
    verb = "Would tag" if dry_run else "Tagged"
    text = (
        f"{verb} {result.tagged} run(s) ({len(result.tagged_from_dataset)} from dataset inputs, "
        f"{len(result.tagged_from_signature)} from model signatures); could not tag "
        f"{len(result.untaggable)} run(s) (no dataset input or model signature); "
        f"{result.already_tagged} already had feature tags."
    )
    if result.models_from_signature or result.models_untaggable:
        text += (
            f"\n{verb} {len(result.models_from_signature)} logged model(s) from their "
            f"signatures; {len(result.models_untaggable)} had no usable signature."
        )
    if result.versions_tagged or result.versions_untaggable:
        text += (
            f"\n{verb} {len(result.versions_tagged)} model version(s) with their source's "
            f"features; {len(result.versions_untaggable)} version(s) have a source without "
            f"feature tags; {result.versions_already_tagged} already had them."
        )
    return text
