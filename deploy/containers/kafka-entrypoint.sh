#!/usr/bin/env bash
# One KRaft node in a container: the settings deploy/local/infra.sh gives its own node, with
# listeners for the project's network (kafka:9092) and for the host's loopback (KAFKA_HOST_PORT,
# where compose publishes it on 127.0.0.1). Where the host's port is only known once the container
# runs (testcontainers maps a free one), KAFKA_HOST_PORT_FILE names a file to wait for that holds it.
set -euo pipefail
if [ -n "${KAFKA_HOST_PORT_FILE:-}" ]; then
  until [ -s "$KAFKA_HOST_PORT_FILE" ]; do sleep 0.1; done
  KAFKA_HOST_PORT="$(cat "$KAFKA_HOST_PORT_FILE")"
fi
. "$ROOT/deploy/local/kafka-node.sh"
DIR=/var/lib/kafka
{ kafka_node_properties "$DIR" 9093 "${KAFKA_PARTITIONS:-12}"
  cat <<PROPS
listeners=PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093,HOST://:19092
advertised.listeners=PLAINTEXT://${KAFKA_ADVERTISED_HOST:-kafka}:9092,HOST://127.0.0.1:${KAFKA_HOST_PORT:-19092}
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,HOST:PLAINTEXT
PROPS
} > "$DIR/server.properties"
KAFKA_FOREGROUND=1 kafka_launch "$DIR" "${KAFKA_HEAP:-512m}"
