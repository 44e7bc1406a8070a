#!/usr/bin/env bash
# Create the broker's three topics (SPEC section 2) with their partitions, replication and
# retention: the same values the broker itself uses when it creates a missing topic
# (broker/kafka_security.py topic_configs; the table in docs/operations.md). Existing topics
# are left as they are. Runs in the apache/kafka image (deploy/compose.yaml, kafka-init), or
# by a platform team by hand against a cluster where applications may not create topics:
#   BOOTSTRAP=broker:9092 COMMAND_CONFIG=admin.properties deploy/kafka/create-topics.sh
set -euo pipefail

BOOTSTRAP="${BOOTSTRAP:?set BOOTSTRAP to the Kafka bootstrap servers}"
PARTITIONS="${PARTITIONS:-3}"
REPLICATION_FACTOR="${REPLICATION_FACTOR:-3}"
MIN_INSYNC_REPLICAS="${MIN_INSYNC_REPLICAS:-2}"
KAFKA_BIN="${KAFKA_BIN:-/opt/kafka/bin}"
DAY_MS=86400000

# topic                     retention (days)  why
TOPICS=(
  "police.incidents.v1      7"    # personal data, read within seconds; a week covers an outage
  "police.incidents.dlq.v1  28"   # refused input, kept long enough to fix and replay
  "encompass.audit.v1       400"  # ids and hashes only, for auditors' systems over a year
)

extra=()
if [[ -n "${COMMAND_CONFIG:-}" ]]; then
  extra=(--command-config "$COMMAND_CONFIG")
fi

for line in "${TOPICS[@]}"; do
  read -r topic days <<<"$line"
  "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" "${extra[@]}" \
    --create --if-not-exists --topic "$topic" \
    --partitions "$PARTITIONS" --replication-factor "$REPLICATION_FACTOR" \
    --config cleanup.policy=delete \
    --config "min.insync.replicas=$MIN_INSYNC_REPLICAS" \
    --config "retention.ms=$((days * DAY_MS))"
done
"$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" "${extra[@]}" --describe \
  --topic 'police\.incidents\.v1|police\.incidents\.dlq\.v1|encompass\.audit\.v1'
