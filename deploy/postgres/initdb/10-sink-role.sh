#!/bin/sh
# Run once by the postgres image's entrypoint on a new volume (docker-entrypoint-initdb.d):
# creates the sink's least-privilege role from deploy/postgres/sink-role.sql, its password
# read from the compose secret.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v sink_role="${SINK_DB_ROLE:-motcua_sink}" \
  -v sink_password="$(cat /run/secrets/postgres_sink_password)" \
  -v owner="$POSTGRES_USER" \
  -f /motcua/sink-role.sql
