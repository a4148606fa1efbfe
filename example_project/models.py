"""The churn team's five models. Their feature sets overlap on purpose: that is the entanglement.

user_age       churn_model, ltv_model, fraud_model
session_count  churn_model, recommender, ads_ranker
plan           churn_model, ltv_model, recommender
...
"""

from __future__ import annotations

from dataclasses import dataclass

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
            ("session_count", "avg_session_minutes", "discount_pct"),
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
    elif spec.name == "fraud_model":
        head = SGDClassifier(loss="log_loss", alpha=alpha / 1000, random_state=0)
    else:
        head = LogisticRegression(C=1.0 / alpha, max_iter=500)
    pipeline = Pipeline([("prep", _preprocess(spec)), ("model", head)])
    if spec.name == "recommender":
        # A hyper-parameter search: dozens of inner fits, recorded once.
        return GridSearchCV(pipeline, {"model__C": [0.1 / alpha, 1.0 / alpha]}, cv=3)
    return pipeline
