"""``mlflow-debt serve``: enforce each model's version limit the moment MLflow says it changed.

:mod:`verify` (pure: signature, timestamp, event) · :mod:`queue` (pure: delivery-id memory,
per-model coalescing) · :mod:`enforce` (the only module that calls prune code) · :mod:`service`
(worker, reconcile, counters, log lines) · :mod:`app` (the HTTP app) · :mod:`webhooks`
(install/uninstall/check through MlflowClient).
"""
