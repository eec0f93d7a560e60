"""The README's first run: an experiment, a run with a param, a metric and an artifact.

MLFLOW_TRACKING_URI=http://mlflow.localtest.me python examples/first_run.py
"""

import mlflow

mlflow.set_experiment("first-experiment")
with mlflow.start_run():
    mlflow.log_param("alpha", 0.5)
    mlflow.log_metric("rmse", 0.27)
    with open("notes.txt", "w") as notes:
        notes.write("hello")
    mlflow.log_artifact("notes.txt")  # proxied by the server into the bucket
