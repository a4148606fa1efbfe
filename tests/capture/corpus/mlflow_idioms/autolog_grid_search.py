"""MLflow's documented autolog idiom: autolog, then a grid search over a pipeline on a DataFrame.

Written for this corpus (not copied): the shape of MLflow's sklearn autolog examples.
"""

import mlflow
import pandas as pd
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

mlflow.sklearn.autolog()
data = load_diabetes(as_frame=True)
X: pd.DataFrame = data.data
y = data.target
search = GridSearchCV(make_pipeline(StandardScaler(), Ridge()), {"ridge__alpha": [0.1, 1.0]}, cv=3)
with mlflow.start_run():
    search.fit(X, y)
