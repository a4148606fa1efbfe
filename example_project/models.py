"""The churn team's five models. Their feature sets overlap on purpose: that is the entanglement.

user_age           churn_model, ltv_model, fraud_model (and fraud_model_spark, spark_model.py)
num_devices        fraud_model, fraud_model_spark
session_count      churn_model, recommender, ads_ranker
plan               churn_model, ltv_model, recommender
churn_model_score  ads_ranker (churn_model's output: a correction cascade)
...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...] = ()

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


SPECS = {
    s.name: s
    for s in [
        ModelSpec(
            "churn_model",
            "churned",
            (
                "user_age",
                "session_count",
                "tenure_months",
                "monthly_spend",
                "support_tickets",
                "days_since_login",
            ),
            ("plan",),
        ),
        ModelSpec(
            "ltv_model",
            "high_value",
            ("user_age", "tenure_months", "monthly_spend"),
            ("plan", "region"),
        ),
        ModelSpec(
            "fraud_model",
            "fraud",
            ("user_age", "num_devices", "days_since_login", "is_mobile"),
            ("region",),
        ),
        ModelSpec(
            "recommender",
            "engaged",
            ("session_count", "avg_session_minutes", "is_mobile"),
            ("plan",),
        ),
        ModelSpec(
            "ads_ranker",
            "clicked",
            ("session_count", "avg_session_minutes", "discount_pct", "churn_model_score"),
            ("region",),
        ),
    ]
}


def _preprocess(spec: ModelSpec) -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("num", StandardScaler(), list(spec.numeric)),
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(spec.categorical)),
        ]
    )


def build(spec: ModelSpec, alpha: float):
    """An unfitted sklearn estimator for ``spec``; ``alpha`` is its regularisation strength."""
    if spec.name == "ltv_model":
        head = RidgeClassifier(alpha=alpha)
    elif spec.name == "ads_ranker":
        # A sparse model: L1 drives the coefficients of features that do not help to zero.
        head = LogisticRegression(penalty="l1", solver="liblinear", C=0.02 / alpha)
    elif spec.name == "fraud_model":
        head = SGDClassifier(loss="log_loss", alpha=alpha / 1000, random_state=0)
    else:
        head = LogisticRegression(C=1.0 / alpha, max_iter=500)
    pipeline = Pipeline([("prep", _preprocess(spec)), ("model", head)])
    if spec.name == "recommender":
        # A hyper-parameter search: dozens of inner fits, recorded once.
        return GridSearchCV(pipeline, {"model__C": [0.1 / alpha, 1.0 / alpha]}, cv=3)
    return pipeline


def importances(model) -> dict[str, float]:
    """Each input column's share of the fitted linear head's absolute weight (sums to 1).

    A one-hot encoded column counts the weights of all its categories. Logged as metrics
    ``feature_importance.<column>``, the convention the debt report reads.
    """
    pipeline = getattr(model, "best_estimator_", model)
    prep, head = pipeline.named_steps["prep"], pipeline.named_steps["model"]
    weights = np.abs(np.atleast_2d(head.coef_)).sum(axis=0)
    out: dict[str, float] = {}
    for name, _transformer, columns in prep.transformers_:
        span = prep.output_indices_[name]
        if name == "num":
            for column, w in zip(columns, weights[span], strict=True):
                out[column] = float(w)
        elif name == "cat":
            encoder = prep.named_transformers_["cat"]
            start = span.start
            for column, categories in zip(columns, encoder.categories_, strict=True):
                out[column] = float(weights[start : start + len(categories)].sum())
                start += len(categories)
    total = sum(out.values()) or 1.0
    return {k: round(v / total, 6) for k, v in out.items()}
