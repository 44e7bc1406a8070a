#!/usr/bin/env bash
# Once, before `docker compose -f deploy/compose.yaml up`: make what staging needs and must
# never be committed. Leaves existing files alone (run again after deleting one to remake it).
#   deploy/staging/certs/ca.crt, ca.key          a staging CA (the broker trusts it for SMTP)
#   deploy/staging/certs/mailpit.crt, .key       Mailpit's STARTTLS certificate (CN mailpit)
#   deploy/staging/secrets/audit-signing.key     the audit signing key (Ed25519, PKCS#8 PEM)
#   deploy/staging/secrets/audit-signing.pub     its public half, for auditors
#   deploy/.env                                  POSTGRES_PASSWORD, ENCOMPASS_SECRET_KEY and
#                                                ENCOMPASS_DATA_KEY (the data key, id k1)
set -euo pipefail
cd "$(dirname "$0")"
umask 077
mkdir -p certs secrets

if [[ ! -f certs/ca.key ]]; then
  openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=Encompass staging CA" \
    -keyout certs/ca.key -out certs/ca.crt
fi
if [[ ! -f certs/mailpit.key ]]; then
  openssl req -newkey rsa:2048 -nodes -subj "/CN=mailpit" \
    -keyout certs/mailpit.key -out certs/mailpit.csr
  openssl x509 -req -in certs/mailpit.csr -CA certs/ca.crt -CAkey certs/ca.key \
    -CAcreateserial -days 825 -out certs/mailpit.crt \
    -extfile <(printf 'subjectAltName=DNS:mailpit\nextendedKeyUsage=serverAuth\n')
  rm certs/mailpit.csr
fi
if [[ ! -f secrets/audit-signing.key ]]; then
  openssl genpkey -algorithm ed25519 -out secrets/audit-signing.key
  openssl pkey -in secrets/audit-signing.key -pubout -out secrets/audit-signing.pub
fi
# Containers run as uid 10001 and read these through Compose secrets (bind mounts).
chmod 0644 certs/ca.crt certs/mailpit.crt certs/mailpit.key secrets/audit-signing.*

if [[ ! -f ../.env ]]; then
  {
    echo "POSTGRES_PASSWORD=$(openssl rand -hex 24)"
    echo "ENCOMPASS_SECRET_KEY=$(openssl rand -hex 32)"
  } >../.env
fi
# Added to a .env from before the broker required an explicit data key.
if ! grep -q '^ENCOMPASS_DATA_KEY=' ../.env; then
  echo "ENCOMPASS_DATA_KEY=k1:$(openssl rand -base64 32)" >>../.env
fi
echo "staging secrets ready; now: docker compose -f deploy/compose.yaml up -d --build"
