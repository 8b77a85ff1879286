#!/usr/bin/env bash
# A single-node Kafka as a real deployment runs it, for the tests of TLS, SASL/SCRAM and ACLs:
# its one listener is SASL_SSL (SCRAM-SHA-512, a certificate from a CA made here), the
# StandardAuthorizer denies whatever no ACL allows, and every principal of shared/topics.py has
# SCRAM credentials: admin (the only super user), disruption, rebooking, compensation, notify,
# reservations, operations.
#   deploy/local/secure-kafka.sh start DIR PORT CONTROLLER_PORT    (credentials: DIR/credentials.env)
#   deploy/local/secure-kafka.sh stop DIR
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=kafka-node.sh
. "$ROOT/deploy/local/kafka-node.sh"
PRINCIPALS=(admin disruption rebooking compensation notify reservations operations)

log() { echo "[secure-kafka] $*" >&2; }
secret() { head -c 32 /dev/urandom | base64 | tr -d '/+=' ; }

start() {
  local dir="$1" port="$2" controller="$3"
  "$ROOT/deploy/local/infra.sh" fetch kafka
  mkdir -p "$dir/tls" "$dir/data"
  chmod 700 "$dir"
  local store_pass; store_pass="$(secret)"
  # A CA of our own, and the broker's certificate for 127.0.0.1 signed by it.
  (cd "$dir/tls"
   keytool -genkeypair -alias ca -dname CN=rebound-test-ca -keyalg EC -groupname secp256r1 -validity 7 \
     -ext bc:c -keystore ca.p12 -storetype PKCS12 -storepass "$store_pass" 2>/dev/null
   keytool -exportcert -alias ca -keystore ca.p12 -storepass "$store_pass" -rfc -file ca.pem 2>/dev/null
   keytool -genkeypair -alias broker -dname CN=localhost -keyalg EC -groupname secp256r1 -validity 7 \
     -keystore broker.p12 -storetype PKCS12 -storepass "$store_pass" 2>/dev/null
   keytool -certreq -alias broker -keystore broker.p12 -storepass "$store_pass" -file broker.csr 2>/dev/null
   keytool -gencert -alias ca -keystore ca.p12 -storepass "$store_pass" -infile broker.csr -outfile broker.pem \
     -rfc -validity 7 -ext SAN=IP:127.0.0.1,DNS:localhost 2>/dev/null
   keytool -importcert -alias ca -keystore broker.p12 -storepass "$store_pass" -file ca.pem -noprompt 2>/dev/null
   keytool -importcert -alias broker -keystore broker.p12 -storepass "$store_pass" -file broker.pem 2>/dev/null)
  local scram=() name pass
  : > "$dir/credentials.env"; chmod 600 "$dir/credentials.env"
  for name in "${PRINCIPALS[@]}"; do
    pass="$(secret)"
    echo "${name}=${pass}" >> "$dir/credentials.env"
    scram+=(--add-scram "SCRAM-SHA-512=[name=${name},password=${pass}]")
  done
  local admin_pass; admin_pass="$(sed -n 's/^admin=//p' "$dir/credentials.env")"
  { kafka_node_properties "$dir" "$controller" 1
    cat <<PROPS
listeners=BROKER://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=BROKER://127.0.0.1:$port
listener.security.protocol.map=BROKER:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=BROKER
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.broker.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pass";
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/tls/broker.p12
ssl.keystore.password=$store_pass
ssl.truststore.type=PKCS12
ssl.truststore.location=$dir/tls/broker.p12
ssl.truststore.password=$store_pass
ssl.client.auth=none
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
# The controller listener is plaintext on loopback, where the node talks to itself as ANONYMOUS.
super.users=User:admin;User:ANONYMOUS
PROPS
  } > "$dir/server.properties"
  kafka_launch "$dir" 384m "${scram[@]}"
  local deadline=$((SECONDS + 120))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null || { log "Kafka exited; see $dir/kafka.log"; exit 1; }
    [ $SECONDS -lt $deadline ] || { log "Kafka did not answer on $port; see $dir/kafka.log"; exit 1; }
    sleep 0.2
  done
  log "SASL_SSL Kafka on 127.0.0.1:$port (CA: $dir/tls/ca.pem)"
}

stop() {
  local dir="$1"
  [ -f "$dir/kafka.pid" ] || return 0
  local pid; pid="$(cat "$dir/kafka.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
      [ $SECONDS -lt $deadline ] || { kill -KILL "$pid"; break; }
      sleep 0.2
    done
  fi
  rm -f "$dir/kafka.pid"
}

case "${1:-}" in
  start) start "$2" "$3" "$4" ;;
  stop) stop "$2" ;;
  *) echo "usage: $0 start DIR PORT CONTROLLER_PORT | stop DIR" >&2; exit 2 ;;
esac
