"""The classic MLflow tutorial idiom: split a frame, fit an ElasticNet, log params, metrics and
the model.

Written for this corpus (not copied): the shape of MLflow's ElasticNet tutorial.
"""

import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

data = load_diabetes(as_frame=True)
train_x, test_x, train_y, test_y = train_test_split(data.data, data.target, random_state=42)
with mlflow.start_run():
    lr = ElasticNet(alpha=0.05, l1_ratio=0.5, random_state=42)
    lr.fit(train_x, train_y)
    mlflow.log_params({"alpha": 0.05, "l1_ratio": 0.5})
    mlflow.log_metric("rmse", float(mean_squared_error(test_y, lr.predict(test_x)) ** 0.5))
    mlflow.sklearn.log_model(lr, name="model")
