# Apache Kafka (KRaft, one node) from the same sources as deploy/local/infra.sh: the jars from
# Maven Central (deploy/local/kafka/pom.xml) on Debian's OpenJDK 17, configured by the same script.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE} AS jars
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends maven ca-certificates-java \
 && rm -rf /var/lib/apt/lists/*
ENV ROOT=/opt/rebound REBOUND_CACHE=/opt/rebound/cache
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY deploy/local/kafka/pom.xml /opt/rebound/deploy/local/kafka/pom.xml
COPY deploy/local/kafka-node.sh /opt/rebound/deploy/local/kafka-node.sh
RUN . "$ROOT/deploy/local/kafka-node.sh" \
 && mvn -q -B -Dstyle.color=never -f "$ROOT/deploy/local/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS" \
 && rm -rf /root/.m2

FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10002 --home-dir /var/lib/kafka --create-home --shell /usr/sbin/nologin kafka
ENV ROOT=/opt/rebound REBOUND_CACHE=/opt/rebound/cache
COPY --from=jars /opt/rebound /opt/rebound
COPY deploy/containers/kafka-entrypoint.sh /opt/rebound/deploy/containers/kafka-entrypoint.sh
USER kafka
VOLUME /var/lib/kafka
EXPOSE 9092 19092
# Healthy once the broker's listener answers (compose and the test fixtures wait for it).
HEALTHCHECK --interval=2s --start-period=120s --retries=30 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9092"]
ENTRYPOINT ["/opt/rebound/deploy/containers/kafka-entrypoint.sh"]
