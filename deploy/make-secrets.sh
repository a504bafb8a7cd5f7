#!/bin/sh
# Writes the compose secrets into ./secrets/ (beside docker-compose.yml), generating random
# passwords. The directory is its owner's only (0700); the files in it are 0644, since
# compose (without swarm) bind-mounts each into containers whose users (postgres, grafana,
# motcua uid 10001) differ from the host's. Existing files are kept, so running it
# again after adding a secret fills in only the new one; rotating one: delete its files,
# run this, then follow docs/operations.md, "Secret rotation".
#   sh deploy/make-secrets.sh [DIR]
set -eu
dir="${1:-secrets}"
db="${POSTGRES_DB:-motcua}"
owner="${POSTGRES_USER:-motcua}"
sink_role="${SINK_DB_ROLE:-motcua_sink}"
mkdir -p "$dir"
chmod 700 "$dir"
umask 022

password() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
keep() { [ -s "$dir/$1" ]; }

keep postgres_password || password > "$dir/postgres_password"
keep postgres_sink_password || password > "$dir/postgres_sink_password"
keep grafana_admin_password || password > "$dir/grafana_admin_password"
# the SMTP account's password for Alertmanager's e-mail receiver: fill in by hand
keep alertmanager_smtp_password || : > "$dir/alertmanager_smtp_password"
# SASL password of the Kafka user motcua uses on the SASL_SSL external listener (only with
# deploy/compose.sasl.yml; its TLS material: deploy/make-kafka-tls.sh)
keep kafka_sasl_password || password > "$dir/kafka_sasl_password"

# the database URLs motcua reads as MOTCUA_DATABASE_URL (MOTCUA_SECRETS_DIR), derived from
# the passwords above so that they always agree
printf 'postgresql+psycopg://%s:%s@postgres:5432/%s\n' \
  "$owner" "$(cat "$dir/postgres_password")" "$db" > "$dir/owner_database_url"
printf 'postgresql+psycopg://%s:%s@postgres:5432/%s\n' \
  "$sink_role" "$(cat "$dir/postgres_sink_password")" "$db" > "$dir/sink_database_url"
echo "secrets in $dir/: $(ls "$dir" | tr '\n' ' ')"
