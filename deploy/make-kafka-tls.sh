#!/bin/sh
# TLS material of the SASL_SSL external listener (deploy/compose.sasl.yml), into ./secrets/
# beside the other compose secrets (deploy/make-secrets.sh):
#   kafka_ca.pem             a private CA's certificate: what clients trust
#                            (MOTCUA_KAFKA_SSL_CAFILE; give it to the one-stop software)
#   kafka_ca.key             that CA's key (0600, never mounted: only to sign the next one)
#   kafka.keystore.p12       the broker's key and certificate for KAFKA_EXTERNAL_HOST
#                            (subjectAltName; clients check it), PKCS12, with the CA
#   kafka_keystore_password  the keystore's password (random)
# Existing files are kept. Renewing the certificate: delete kafka.keystore.p12, run this,
# `docker compose ... up -d --force-recreate kafka`. With a CA of your own, put its
# certificate in kafka_ca.pem and the broker's PKCS12 and password in the other two
# instead of running this.
#   KAFKA_EXTERNAL_HOST=kafka.example.gov.vn sh deploy/make-kafka-tls.sh [DIR]
set -eu
dir="${1:-secrets}"
host="${KAFKA_EXTERNAL_HOST:?set KAFKA_EXTERNAL_HOST: the name (or IP) clients connect to}"
days="${KAFKA_TLS_DAYS:-825}"
mkdir -p "$dir"
chmod 700 "$dir"
umask 022

keep() { [ -s "$dir/$1" ]; }
password() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
case "$host" in
  *[!0-9.]*) san="DNS:$host" ;;
  *) san="IP:$host" ;;
esac

keep kafka_keystore_password || password > "$dir/kafka_keystore_password"

if ! keep kafka_ca.pem; then
  openssl req -x509 -new -newkey rsa:3072 -nodes -sha256 -days 3650 \
    -subj "/CN=motcua-kpi Kafka CA" -keyout "$dir/kafka_ca.key" -out "$dir/kafka_ca.pem" \
    2>/dev/null
  chmod 600 "$dir/kafka_ca.key"
fi

if ! keep kafka.keystore.p12; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  openssl req -new -newkey rsa:3072 -nodes -sha256 -subj "/CN=$host" \
    -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
  printf 'subjectAltName=%s\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$san" > "$tmp/ext"
  openssl x509 -req -in "$tmp/server.csr" -CA "$dir/kafka_ca.pem" -CAkey "$dir/kafka_ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 -extfile "$tmp/ext" \
    -out "$tmp/server.pem" 2>/dev/null
  openssl pkcs12 -export -name kafka -in "$tmp/server.pem" -inkey "$tmp/server.key" \
    -certfile "$dir/kafka_ca.pem" -passout "file:$dir/kafka_keystore_password" \
    -out "$dir/kafka.keystore.p12"
  # readable by the broker's user in the container (compose bind-mounts secret files as
  # they are; the directory stays 0700), as make-secrets.sh does
  chmod 644 "$dir/kafka.keystore.p12"
fi
echo "TLS for $san in $dir/: kafka_ca.pem kafka.keystore.p12 kafka_keystore_password"
