"""A tracking-quickstart idiom: a ColumnTransformer pipeline that reads some of a frame's
columns, logged with a signature.

Written for this corpus (not copied): the shape of MLflow's quickstart and sklearn examples.
"""

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

rng = np.random.default_rng(0)
n = 500
X = pd.DataFrame(
    {
        "age": rng.integers(18, 80, n).astype(float),
        "tenure": rng.integers(0, 60, n),
        "plan": rng.choice(["basic", "pro", "team"], n),
        "region": rng.choice(["eu", "us"], n),
        "customer_id": np.arange(n),
    }
)
y = (X["tenure"] < 12).astype(int)
model = Pipeline(
    [
        (
            "prep",
            ColumnTransformer(
                [("num", StandardScaler(), ["age", "tenure"]), ("cat", OneHotEncoder(), ["plan"])],
                remainder="drop",
            ),
        ),
        ("clf", LogisticRegression(max_iter=500)),
    ]
)
with mlflow.start_run():
    model.fit(X, y)
    mlflow.log_metric("accuracy", float(model.score(X, y)))
    mlflow.sklearn.log_model(
        model, name="model", signature=infer_signature(X, model.predict(X)), input_example=X[:3]
    )
