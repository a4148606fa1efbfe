"""Synthetic customer data for the churn team: seeded, made in code, nothing downloaded."""

from __future__ import annotations

import numpy as np
import pandas as pd

PLANS = ["basic", "plus", "pro", "team"]
REGIONS = ["na", "eu", "apac", "latam"]


def customers(n_rows: int = 5000, seed: int = 0, user_age_unit: str = "years") -> pd.DataFrame:
    """One row per customer, with the features every model picks from and the targets.

    ``user_age_unit`` is the knob for the entanglement demo: the churn team starts measuring
    ``user_age`` in months, and every other consumer of ``user_age`` is now on a stale definition.
    """
    rng = np.random.default_rng(seed)
    age_years = rng.normal(38, 11, n_rows).clip(18, 90).round(1)
    df = pd.DataFrame(
        {
            "user_age": age_years * (12 if user_age_unit == "months" else 1),
            "session_count": rng.poisson(6, n_rows),
            "tenure_months": rng.exponential(20, n_rows).round(),
            "plan": rng.choice(PLANS, n_rows, p=[0.5, 0.25, 0.15, 0.10]),
            "monthly_spend": rng.lognormal(3.2, 0.6, n_rows).round(2),
            "support_tickets": rng.poisson(1.2, n_rows),
            "is_mobile": rng.random(n_rows) < 0.4,
            "region": rng.choice(REGIONS, n_rows),
            "days_since_login": rng.exponential(7, n_rows).round(),
            "num_devices": rng.integers(1, 6, n_rows),
            "avg_session_minutes": rng.gamma(2.0, 6.0, n_rows).round(1),
            "discount_pct": rng.choice([0, 5, 10, 20], n_rows, p=[0.6, 0.2, 0.15, 0.05]),
        }
    )
    noise = rng.normal(0, 1, n_rows)
    # The churn model's score, as the ads team reads it from the scoring table: a feature that
    # is another model's output (a correction cascade), and, as it turns out, a useless one.
    churn_logit = (
        0.08 * df["days_since_login"]
        + 0.5 * df["support_tickets"]
        - 0.05 * df["tenure_months"]
        - 0.1 * df["session_count"]
    )
    df["churn_model_score"] = (1 / (1 + np.exp(-churn_logit - rng.normal(0, 0.5, n_rows)))).round(4)
    plan_rank = df["plan"].map({p: i for i, p in enumerate(PLANS)})
    # Targets depend on the features so the models learn something real.
    df["churned"] = (
        0.08 * df["days_since_login"]
        + 0.5 * df["support_tickets"]
        - 0.05 * df["tenure_months"]
        - 0.1 * df["session_count"]
        - 0.02 * (age_years - 38)
        + noise
        > 0
    ).astype(int)
    df["high_value"] = (
        0.03 * df["monthly_spend"] + 0.4 * plan_rank + 0.02 * df["tenure_months"] + noise > 2
    ).astype(int)
    df["fraud"] = (
        0.6 * df["num_devices"] - 0.03 * (age_years - 38) + 0.5 * df["is_mobile"] + noise > 3
    ).astype(int)
    df["engaged"] = 0.15 * df["session_count"] + 0.05 * df["avg_session_minutes"] + noise > 1.5
    df["engaged"] = df["engaged"].astype(int)
    df["clicked"] = (
        0.1 * df["session_count"]
        + 0.05 * df["discount_pct"]
        - 0.01 * df["avg_session_minutes"]
        + noise
        > 1
    ).astype(int)
    return df
