# A KRaft Kafka node from the Maven Central jars: what the local brokers (infra.sh, one or a
# cluster) and the SASL_SSL test broker (secure-kafka.sh) have in common. Sourced; needs ROOT.
CACHE="${REBOUND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rebound}"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/local/kafka/pom.xml")"
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"  # the Kafka image keeps them at the same place

# The settings every node takes: $1 its directory, $2 controller port, $3 partitions per topic;
# for a node of a cluster also $4 its id, $5 the controller voters (`1@host:port,2@…`) and $6 the
# replication factor. The caller adds its listeners.
kafka_node_properties() {
  local node="${4:-1}" voters="${5:-}" replication="${6:-1}"
  # A write is acknowledged once two of three copies have it: one broker can be lost without losing
  # it or refusing writes.
  local min_isr=$((replication > 1 ? replication - 1 : 1))
  if [ -n "$voters" ]; then echo "controller.quorum.voters=$voters"; else echo "controller.quorum.bootstrap.servers=127.0.0.1:$2"; fi
  cat <<PROPS
process.roles=broker,controller
node.id=$node
controller.listener.names=CONTROLLER
log.dirs=$1/data
num.partitions=$3
auto.create.topics.enable=false
default.replication.factor=$replication
min.insync.replicas=$min_isr
# A replica that missed writes never becomes leader: a lost broker costs availability, not data.
unclean.leader.election.enable=false
offsets.topic.replication.factor=$replication
offsets.topic.num.partitions=$3
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$replication
share.coordinator.state.topic.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
PROPS
}

# Format the node's storage once (extra arguments, e.g. --add-scram, go to the format), then start
# it in the background: $1 its directory (server.properties written), $2 heap, then the extras.
# A node of a cluster (static voters) is formatted with the cluster's id, KAFKA_CLUSTER_ID; a
# single node is its own quorum (--standalone).
kafka_launch() {
  local dir="$1" heap="$2"; shift 2
  cat > "$dir/log4j2.properties" <<'L4J'
rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.apache.name=org.apache.kafka
logger.apache.level=WARN
L4J
  local java_opts=(-Xms256m "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true
                   "-Dlog4j2.configurationFile=$dir/log4j2.properties")
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id="${KAFKA_CLUSTER_ID:-}" standalone=(--standalone)
    grep -q '^controller.quorum.voters=' "$dir/server.properties" && standalone=()
    [ -n "$cluster_id" ] || cluster_id="$(kafka_random_id)"
    java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format "${standalone[@]}" \
      -t "$cluster_id" -c "$dir/server.properties" "$@" >/dev/null
  fi
  # In a container the node is the container's process, logging to its output.
  if [ -n "${KAFKA_FOREGROUND:-}" ]; then exec java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.Kafka "$dir/server.properties"; fi
  nohup java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 &
  echo $! > "$dir/kafka.pid"
}

kafka_random_id() { java -cp "$KAFKA_LIBS/*" -Xmx64m kafka.tools.StorageTool random-uuid; }
