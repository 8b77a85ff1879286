# PostgreSQL 15 from Debian's packages, as deploy/local/infra.sh runs it: passwords (SCRAM-SHA-256)
# over TCP, statement statistics loaded. The superuser is the deployment's admin role, whose
# password REBOUND_POSTGRES_PASSWORD gives at the first start; it prepares each service's role.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o postgres -g postgres /var/lib/postgresql/data /var/run/postgresql
COPY deploy/containers/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
ENV PGDATA=/var/lib/postgresql/data PATH=/usr/lib/postgresql/15/bin:$PATH
VOLUME /var/lib/postgresql/data
EXPOSE 5432
HEALTHCHECK --interval=2s --start-period=60s --retries=30 CMD ["pg_isready", "-h", "127.0.0.1", "-q"]
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
