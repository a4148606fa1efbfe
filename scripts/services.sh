#!/usr/bin/env bash
# Install and start what the server, browser and Spark tests need on a Debian machine: PostgreSQL
# (started, with a database for the tests), Chromium and a Java runtime for Spark. Needs root (or sudo) and apt-get. Prints the line to
# eval, e.g.
#   eval "$(bash scripts/services.sh)"   # exports MLFLOW_DEBT_TEST_POSTGRES_URI
# Everything else it says goes to stderr.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

need=()
command -v pg_lsclusters >/dev/null 2>&1 || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)  # pyspark's JVM
if [ "${#need[@]}" -gt 0 ]; then
  echo "services: apt-get install ${need[*]}" >&2
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq "${need[@]}" >&2
fi

# Debian's package makes a "main" cluster; start it if it is down.
read -r version cluster port status _ < <(pg_lsclusters --no-header | head -n 1)
if [ "$status" != "online" ]; then
  $SUDO pg_ctlcluster "$version" "$cluster" start >&2
fi

db=mlflow_debt_test
user=mlflow_debt
password=mlflow_debt
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    sudo -u postgres "$@"
  fi
}
as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user') THEN
    CREATE ROLE $user LOGIN CREATEDB PASSWORD '$password';
  END IF;
  -- each test session creates (and drops) a database of its own
  ALTER ROLE $user CREATEDB;
END \$\$;
SQL
if ! as_postgres psql -p "$port" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  as_postgres createdb -p "$port" -O "$user" "$db" >&2
fi
echo "export MLFLOW_DEBT_TEST_POSTGRES_URI=postgresql+psycopg://$user:$password@127.0.0.1:$port/$db"
