#!/bin/sh
# Idempotent MinIO setup run by the ArtifactBucket Job (image: minio/mc).
# Inputs (environment): MC_HOST_root (root alias URL), BUCKET, POLICY_NAME, POLICY_JSON,
# MLFLOW_ACCESS_KEY, MLFLOW_SECRET_KEY; optionally BACKUP_POLICY_NAME, BACKUP_POLICY_JSON,
# BACKUP_ACCESS_KEY, BACKUP_SECRET_KEY (the backup user) and LIFECYCLE_JSON (bucket lifecycle rules).
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
# Never public: every client reads and writes with its own scoped user.
mc anonymous set none "root/${BUCKET}"

# A user whose only policy is $1 (JSON $2), with keys $3/$4.
scoped_user() {
  printf '%s' "$2" > "/tmp/$1.json"
  mc admin policy create root "$1" "/tmp/$1.json"
  # The keys go on stdin (mc reads them from there when they are not arguments, cmd/admin-user-add.go
  # fetchUserKeys): as arguments they would be in mc's argv, which `ps` shows. printf is a shell builtin.
  printf '%s\n%s\n' "$3" "$4" | mc admin user add root
  # Attaching an already attached policy is an error in mc; treat "already attached" as done.
  if ! mc admin policy attach root "$1" --user "$3"; then
    mc admin policy entities root --user "$3" | grep -q "$1"
  fi
}

scoped_user "${POLICY_NAME}" "${POLICY_JSON}" "${MLFLOW_ACCESS_KEY}" "${MLFLOW_SECRET_KEY}"
if [ -n "${BACKUP_ACCESS_KEY:-}" ]; then
  scoped_user "${BACKUP_POLICY_NAME}" "${BACKUP_POLICY_JSON}" "${BACKUP_ACCESS_KEY}" "${BACKUP_SECRET_KEY}"
fi
if [ -n "${LIFECYCLE_JSON:-}" ]; then
  # Import replaces the whole lifecycle configuration, so running again changes nothing.
  printf '%s' "${LIFECYCLE_JSON}" | mc ilm import "root/${BUCKET}"
fi
echo "bucket ${BUCKET} ready; users scoped to their prefixes"
