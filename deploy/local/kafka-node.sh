# A single-node KRaft Kafka from the Maven Central jars: what the local broker (infra.sh) and the
# SASL_SSL test broker (secure-kafka.sh) have in common. Sourced; needs ROOT.
CACHE="${REBOUND_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rebound}"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/local/kafka/pom.xml")"
KAFKA_LIBS="$CACHE/kafka-$KAFKA_VERSION/libs"

# The settings every single node takes: $1 its directory, $2 controller port, $3 partitions per
# topic. The caller adds its listeners.
kafka_node_properties() {
  cat <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$2
controller.listener.names=CONTROLLER
log.dirs=$1/data
num.partitions=$3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=$3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
}

# Format the node's storage once (extra arguments, e.g. --add-scram, go to the format), then start
# it in the background: $1 its directory (server.properties written), $2 heap, then the extras.
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
    local cluster_id
    cluster_id="$(java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool random-uuid)"
    java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.tools.StorageTool format --standalone \
      -t "$cluster_id" -c "$dir/server.properties" "$@" >/dev/null
  fi
  nohup java -cp "$KAFKA_LIBS/*" "${java_opts[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 &
  echo $! > "$dir/kafka.pid"
}
