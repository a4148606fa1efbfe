"""Train one of the churn team's models. Ordinary MLflow code: nothing here mentions mlflow-debt.

    python example_project/train.py --model churn_model --alpha 0.5

With mlflow-debt installed, the run gets feature tags automatically when the model is fit.
"""

from __future__ import annotations

import argparse
import os
import sys

import mlflow
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from data import customers
from models import SPECS, build, importances


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=[*sorted(SPECS), "fraud_model_spark"])
    parser.add_argument("--alpha", type=float, default=1.0, help="regularisation strength")
    parser.add_argument("--n-rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--user-age-unit", choices=["years", "months"], default="years")
    parser.add_argument("--no-register", action="store_true", help="log the model only")
    args = parser.parse_args(argv)
    if args.model == "fraud_model_spark":  # the Spark-trained one (needs pyspark and Java)
        import spark_model

        return spark_model.train(args, customers)

    spec = SPECS[args.model or "churn_model"]
    df = customers(args.n_rows, args.seed, args.user_age_unit)
    X, y = df[spec.features], df[spec.target]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

    with mlflow.start_run(run_name=f"{spec.name}-alpha{args.alpha:g}") as run:
        params = {"model": spec.name, "alpha": args.alpha, "user_age_unit": args.user_age_unit}
        # Under `mlflow run` the entry point's parameters are already logged (as typed: "3", not
        # "3.0"), and MLflow refuses to change a logged param.
        logged = mlflow.get_run(run.info.run_id).data.params
        mlflow.log_params({k: v for k, v in params.items() if k not in logged})
        model = build(spec, args.alpha).fit(X_train, y_train)
        accuracy = accuracy_score(y_test, model.predict(X_test))
        info = mlflow.sklearn.log_model(
            getattr(model, "best_estimator_", model),  # a search logs the model it chose
            name="model",
            input_example=X_train.head(3),
            registered_model_name=None if args.no_register else spec.name,
        )
        mlflow.log_metric("accuracy", accuracy, model_id=info.model_id)
        if hasattr(model, "predict_proba"):  # a loss: lower is better (prune --lower-is-better)
            loss = log_loss(y_test, model.predict_proba(X_test))
            mlflow.log_metric("log_loss", loss, model_id=info.model_id)
        mlflow.log_metrics({f"feature_importance.{k}": v for k, v in importances(model).items()})
        print(f"{spec.name}: accuracy={accuracy:.3f} run_id={run.info.run_id}")
        return run.info.run_id


if __name__ == "__main__":
    main()
