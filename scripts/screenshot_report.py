"""Screenshot an HTML debt report in headless Chromium, as the README shows it.

    python scripts/screenshot_report.py REPORT.html docs/images/debt-report.png
    python scripts/screenshot_report.py --demo docs/images/debt-report.png

The page is rendered 1280 px wide; the picture is its top ``--height`` pixels (the whole page if
shorter), saved as PNG. ``--demo`` first builds the example churn team's store (the five models
of ``example_project``, with the debts ``scripts/demo.sh`` plants, plus a lineage gap, a missing
signature, a near-zero importance and a notebook consumer) in a temporary SQLite file in seconds,
without training, and writes its report with ``mlflow-debt report``. For the report of the real
demo store: ``bash scripts/demo.sh``, then pass ``.demo/report.html``.

Debian's Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``) is driven by Playwright for Python;
Playwright's own browser download is not needed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]


def screenshot(
    html: Path, out: Path, width: int = 1280, height: int = 1600, until: str | None = None
) -> tuple[int, int, int]:
    """Write the top of ``html`` at ``width`` px to ``out``: ``height`` px, or down to the end of
    the element ``until`` (a CSS selector) if given. The page's width and height, and the shot's."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": width, "height": 900},
            offline=True,
        )
        try:
            page = context.new_page()
            page.goto(html.resolve().as_uri())
            size = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            if until:
                box = page.locator(until).first.bounding_box()
                if box is None:
                    raise SystemExit(f"{until!r}: no such element on the page")
                height = int(box["y"] + box["height"]) + 24
            shot = min(height, size[1])
            clip = {"x": 0, "y": 0, "width": width, "height": shot}
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True, clip=clip)
        finally:
            context.close()
    return int(size[0]), int(size[1]), shot


# --------------------------------------------------------------------------------------------
# --demo: the example team's store, planted without training

#: The example project's five models and their features (example_project/models.py).
TEAM = {
    "churn_model": (
        "user_age session_count tenure_months monthly_spend support_tickets days_since_login plan"
    ),
    "ltv_model": "user_age tenure_months monthly_spend plan region",
    "fraud_model": "user_age num_devices days_since_login is_mobile region",
    "recommender": "session_count avg_session_minutes is_mobile plan",
    "ads_ranker": "session_count avg_session_minutes discount_pct churn_model_score region",
}
#: Made-up but well-formed fingerprints; user_age in months is the changed definition.
FINGERPRINTS = {
    "user_age": "num:+:m41.2:s12.0:na0",
    "session_count": "int:+:m7.5:s3.1:na0",
    "tenure_months": "num:+:m22.8:s15.3:na0",
    "monthly_spend": "num:+:m54.1:s31.7:na0",
    "support_tickets": "int:+:m1.1:s1.4:na0",
    "days_since_login": "int:+:m9.6:s8.2:na0",
    "plan": "cat:k4:hcebba2:na0",
    "region": "cat:k6:h91f3c0:na0",
    "num_devices": "int:+:m1.9:s0.9:na0",
    "is_mobile": "bool:p0.62",
    "avg_session_minutes": "num:+:m12.4:s6.3:na0",
    "discount_pct": "num:+:m4.9:s7.2:na12",
    "churn_model_score": "num:+:m0.23:s0.19:na0",
    "legacy_zip_code": "cat:k812:h5a1e77:na3",
}
MONTHS = "num:+:m494.4:s144.0:na0"
MLMODEL = """\
flavors:
  python_function: {loader_module: mlflow.sklearn, python_version: 3.11.0}
  sklearn: {pickled_model: model.pkl, sklearn_version: 1.5.0}
"""
SIGNATURE = """\
signature:
  inputs: '[{"type": "double", "name": "user_age", "required": true}]'
  outputs: '[{"type": "long", "required": true}]'
"""
T0 = 1_748_000_000_000  # late May 2025, ms


def build_demo_store(uri: str) -> None:
    """The churn team's registry and runs, as ``scripts/demo.sh`` leaves them (and a bit more)."""
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    from mlflow_debt import tags
    from mlflow_debt.tags import FeatureRecord

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiments: dict[str, str] = {}

    def run(
        experiment: str,
        features: dict[str, str] | None,
        hour: float,
        metrics: dict[str, float],
        extra: dict[str, str] | None = None,
        signature: bool = True,
        commit: bool = True,
    ) -> str:
        if experiment not in experiments:
            experiments[experiment] = client.create_experiment(experiment)
        r = client.create_run(experiments[experiment], start_time=T0 + int(hour * 3_600_000))
        run_tags = dict(extra or {})
        if features is not None:
            records = [FeatureRecord(n, "float64", fp) for n, fp in features.items()]
            run_tags.update(tags.encode(records, "sklearn:Pipeline"))
        if commit:
            run_tags["mlflow.source.git.commit"] = "4e1f0c9a7b2d5e8f3a6c1b9d0e2f4a7c5b8d1e3f"
        client.log_batch(
            r.info.run_id,
            metrics=[Metric(k, v, T0, 0) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in run_tags.items()],
        )
        client.log_text(r.info.run_id, MLMODEL + (SIGNATURE if signature else ""), "model/MLmodel")
        client.set_terminated(r.info.run_id)
        return r.info.run_id

    def register(model: str, run_id: str) -> None:
        if not client.search_registered_models(filter_string=f"name = '{model}'"):
            client.create_registered_model(model)
        client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)

    def features(model: str, **changed: str) -> dict[str, str]:
        return {n: changed.get(n, FINGERPRINTS[n]) for n in TEAM[model].split()}

    def team_run(model: str, hour: float, metrics: dict[str, float], **kw: Any) -> str:
        # The consumer tag keeps pruned versions' runs with their model: without LoggedModels
        # (nothing is trained here) they would otherwise count as the experiment's own consumer.
        extra = {"mlflow_debt.consumer": model, **kw.pop("extra", {})}
        fs = kw.pop("features", None) or features(model)
        return run("churn-team", fs, hour, metrics, extra, **kw)

    # churn_model: four versions on different samples, then user_age in months (entanglement).
    for i, accuracy in enumerate((0.781, 0.802, 0.811, 0.796)):
        register("churn_model", team_run("churn_model", i, {"accuracy": accuracy}))
    client.set_registered_model_alias("churn_model", "champion", "1")
    # An old ltv run still computed a feature nobody reads any more (underutilized).
    legacy = {**features("ltv_model"), "legacy_zip_code": FINGERPRINTS["legacy_zip_code"]}
    team_run("ltv_model", 4, {"accuracy": 0.70}, features=legacy)
    importances = {"ads_ranker": {"discount_pct": 0.0, "session_count": 0.41, "region": 0.2}}
    for i, model in enumerate(("ltv_model", "fraud_model", "recommender", "ads_ranker")):
        metrics = {"accuracy": 0.74 + 0.03 * i}
        metrics.update(
            {f"feature_importance.{k}": v for k, v in importances.get(model, {}).items()}
        )
        # ltv_model was logged without a signature (reproducibility).
        register(model, team_run(model, 5 + i, metrics, signature=i != 0))
    # fraud_model v2 came from a notebook without mlflow-debt: no feature tags, no git commit.
    register("fraud_model", run("fraud-notebook", None, 10, {"accuracy": 0.83}, commit=False))
    # An analyst's experiment reads two features nobody declared for it.
    analysis = {"user_age": MONTHS, "session_count": FINGERPRINTS["session_count"]}
    run("churn-analysis", analysis, 11, {})
    months = features("churn_model", user_age=MONTHS)
    register("churn_model", team_run("churn_model", 12, {"accuracy": 0.824}, features=months))


def demo_report(html: Path) -> None:
    """Build the demo store in a temporary directory and write its HTML report to ``html``."""
    from click.testing import CliRunner

    from mlflow_debt.cli import cli

    html = html.resolve()
    declared = ROOT / "example_project" / "declared_consumers.yaml"
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as tmp:
        # Relative paths, so the report's header reads like a team's own: sqlite:///mlflow.db.
        os.chdir(tmp)
        try:
            shutil.copyfile(declared, "consumers.yaml")
            uri = "sqlite:///mlflow.db"
            # As scripts/demo.sh does: runs:/ model URIs resolve against the default tracking URI.
            os.environ["MLFLOW_TRACKING_URI"] = uri
            build_demo_store(uri)
            runner = CliRunner()
            for args in (
                ["policy", "set", "churn_model", "--max-versions", "3"],
                ["prune", "--yes"],
                ["report", "--declared", "consumers.yaml", "--output", str(html)],
            ):
                result = runner.invoke(cli, [*args, "--tracking-uri", uri], catch_exceptions=False)
                if result.exit_code != 0:
                    raise SystemExit(f"mlflow-debt {args[0]} failed:\n{result.output}")
        finally:
            os.chdir(cwd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", metavar="[REPORT.html] PNG")
    parser.add_argument("--demo", action="store_true", help="report on a demo store first")
    parser.add_argument("--keep-html", type=Path, help="with --demo: keep the report here")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1600, help="crop to this many px")
    parser.add_argument("--until", metavar="SELECTOR", help="crop below this element (#graph)")
    args = parser.parse_args(argv)
    if len(args.paths) != (1 if args.demo else 2):
        parser.error("give REPORT.html and PNG, or --demo and PNG")
    png = Path(args.paths[-1])
    with tempfile.TemporaryDirectory() as tmp:
        if args.demo:
            os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
            html = args.keep_html or Path(tmp) / "report.html"
            demo_report(html)
        else:
            html = Path(args.paths[0])
        page_w, page_h, shown = screenshot(html, png, args.width, args.height, args.until)
    kib = png.stat().st_size / 1024
    print(f"{png}: {args.width}x{shown} of a {page_w}x{page_h} page, {kib:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
