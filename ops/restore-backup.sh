#!/bin/sh
# Restores one backup of the in-cluster PostgreSQL, a directory s3://BUCKET/backups/STAMP/ the backup CronJob wrote:
# tracking.dump into $PGDATABASE and, when the backup holds it, auth.dump (users, permissions, ownership, the teams'
# workspace roles) into $AUTH_PGDATABASE. docs/operations.md ("Backups and restore") says how to reach the database
# and the bucket; tests/runtime/test_teams.py runs this script as written.
#
# Usage: ops/restore-backup.sh s3://BUCKET/backups/STAMP/
# Needs: aws (the AWS CLI) with AWS_ENDPOINT_URL, AWS_DEFAULT_REGION and the keys of a user that can read the backups;
#        psql and pg_restore of the server's PostgreSQL major version or newer; PGHOST, PGPORT, PGUSER and PGPASSWORD
#        of the databases' owner (the stack's user, mlflow: what it restores it owns); PGDATABASE (default mlflow) and
#        AUTH_PGDATABASE (default mlflow_auth), the databases the stack's URIs name.
# The dumps carry the grants of the stack's roles (mlflow_app, mlflow_backup, ...), which come back with the tables.
# Into a server without those roles, set RESTORE_GRANTS=no and re-run the stack's migration Job, which grants anew.
# Nothing is dropped: a target database that exists is renamed <name>_before_restore_<UTC time> first (stop the MLflow
# servers before: PostgreSQL refuses to rename a database in use), and the dump goes into a fresh database.
set -eu

usage="usage: $0 s3://BUCKET/backups/STAMP/"
if [ $# -ne 1 ]; then
  echo "$usage" >&2
  exit 2
fi
source=$1
case $source in
  s3://?*/?*/) ;;
  *) echo "$usage (got '$source': a backup directory, ending in /)" >&2; exit 2 ;;
esac
case ${RESTORE_GRANTS:-yes} in
  yes) grants= ;;
  no) grants=--no-privileges ;;
  *) echo "RESTORE_GRANTS must be yes or no (got '$RESTORE_GRANTS')" >&2; exit 2 ;;
esac
tracking=${PGDATABASE:-mlflow}
auth=${AUTH_PGDATABASE:-mlflow_auth}
now=$(date -u +%Y%m%dT%H%M%SZ)

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
aws s3 cp --recursive --only-show-errors "$source" "$workdir"
if [ ! -s "$workdir/tracking.dump" ]; then
  echo "no tracking.dump under $source: list the backups with aws s3 ls s3://BUCKET/backups/" >&2
  exit 1
fi

admin() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 --dbname=postgres "$@"
}

# restore DATABASE DUMP: the old database set aside, a fresh one created, the dump restored in one transaction.
restore() {
  exists=$(echo "SELECT 1 FROM pg_database WHERE datname = :'db'" | admin -v "db=$1")
  if [ "$exists" = 1 ]; then
    aside="$1_before_restore_$now"
    if [ "${#aside}" -gt 63 ]; then  # PostgreSQL would cut the name short, and two could clash
      echo "$aside is longer than PostgreSQL's 63-byte names: rename or drop $1 yourself, then run again" >&2
      exit 1
    fi
    echo 'ALTER DATABASE :"db" RENAME TO :"aside"' | admin -v "db=$1" -v "aside=$aside"
    echo "kept the database that was there as $aside"
  fi
  echo 'CREATE DATABASE :"db"' | admin -v "db=$1"
  # shellcheck disable=SC2086  # $grants is one option or none
  pg_restore --no-owner $grants --exit-on-error --single-transaction --dbname="$1" "$2"
  echo "restored $1 from $source$(basename "$2")"
}

restore "$tracking" "$workdir/tracking.dump"
if [ -f "$workdir/auth.dump" ]; then
  restore "$auth" "$workdir/auth.dump"
fi
