#!/bin/sh
# Idempotent MinIO setup run by the ArtifactBucket Job (image: minio/mc).
# Inputs (environment): MC_HOST_root (root alias URL), BUCKET, POLICY_NAME, POLICY_JSON,
# MLFLOW_ACCESS_KEY, MLFLOW_SECRET_KEY. Credentials never appear on a command line we print.
set -eu

attempt=0
until mc ready root >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 90 ]; then
    echo "MinIO did not become ready in time" >&2
    exit 1
  fi
  sleep 2
done

mc mb --ignore-existing "root/${BUCKET}"
mc version enable "root/${BUCKET}"
# Never public: MLflow reads and writes with its own scoped user.
mc anonymous set none "root/${BUCKET}"

printf '%s' "${POLICY_JSON}" > /tmp/mlflow-policy.json
mc admin policy create root "${POLICY_NAME}" /tmp/mlflow-policy.json
mc admin user add root "${MLFLOW_ACCESS_KEY}" "${MLFLOW_SECRET_KEY}"
# Attaching an already attached policy is an error in mc; treat "already attached" as done.
if ! mc admin policy attach root "${POLICY_NAME}" --user "${MLFLOW_ACCESS_KEY}"; then
  mc admin policy entities root --user "${MLFLOW_ACCESS_KEY}" | grep -q "${POLICY_NAME}"
fi
echo "bucket ${BUCKET} ready; MLflow user scoped to it"
