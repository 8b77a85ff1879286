"""Topics and ACLs for a Kafka cluster that runs SASL: every topic created by the deployment's
admin, and each principal allowed only what shared/topics.py says it reads and writes, plus its
own consumer groups.

    python -m deploy.kafka_access --bootstrap HOST:PORT --ca-file ca.pem --admin-user admin \
        [--topic-prefix P] [--partitions 12] [--replication 3]      (the admin's password: stdin)

Principals are `User:<name>` for the names in shared/topics.py (disruption, rebooking, compensation,
notify, reservations, operations); give each service its own SCRAM credentials."""

import argparse
import asyncio
import sys

from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourceType,
)

from shared import system, topics
from shared.settings import Settings


def access(prefix: str) -> list[tuple[str, ResourceType, str, ACLResourcePatternType, ACLOperation]]:
    """(principal, resource type, name, pattern, operation) for everything anyone may do."""
    grants = []
    for principal, read in system.READS.items():
        grants += [(principal, ResourceType.TOPIC, prefix + t, ACLResourcePatternType.LITERAL, ACLOperation.READ)
                   for t in read]
        grants += [(principal, ResourceType.TOPIC, prefix + topics.dead_letter(t), ACLResourcePatternType.LITERAL,
                    ACLOperation.WRITE) for t in read]
        # Its consumer groups: `<prefix><service>` and `<prefix><service>-priority`.
        grants.append((principal, ResourceType.GROUP, prefix + principal, ACLResourcePatternType.PREFIXED,
                       ACLOperation.READ))
    # Whether passengers wait for a first notice (shared/backlog.py): every service reads the
    # first-notice path's groups' committed offsets and their topics' ends, which takes DESCRIBE
    # on each, never READ.
    urgent = [(part.name + group.suffix, group.topics) for part in system.SYSTEM for group in part.groups
              if group.urgent]
    for principal in system.READS:
        for group_id, urgent_topics in urgent:
            grants.append((principal, ResourceType.GROUP, prefix + group_id, ACLResourcePatternType.LITERAL,
                           ACLOperation.DESCRIBE))
            grants += [(principal, ResourceType.TOPIC, prefix + t, ACLResourcePatternType.LITERAL,
                        ACLOperation.DESCRIBE) for t in urgent_topics]
    for principal, written in system.WRITES.items():
        grants += [(principal, ResourceType.TOPIC, prefix + t, ACLResourcePatternType.LITERAL, ACLOperation.WRITE)
                   for t in written]
    return grants


def grant(admin: KafkaAdminClient, prefix: str) -> int:
    acls = [ACL(principal=f"User:{who}", host="*", operation=operation, permission_type=ACLPermissionType.ALLOW,
                resource_pattern=ResourcePattern(kind, name, pattern))
            for who, kind, name, pattern, operation in access(prefix)]
    result = admin.create_acls(acls)
    if result["failed"]:
        raise RuntimeError(f"{len(result['failed'])} ACLs were refused: {result['failed'][0][1]}")
    return len(acls)


def admin_client(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, security_protocol="SASL_SSL",
                            sasl_mechanism=settings.kafka_sasl_mechanism, sasl_plain_username=settings.kafka_username,
                            sasl_plain_password=settings.kafka_password, ssl_cafile=settings.kafka_ca_file or None,
                            client_id="rebound-deploy")


async def prepare(settings: Settings) -> int:
    """Create the topics (as the admin) and grant every principal its access; the ACL count."""
    await topics.ensure_topics(settings.model_copy(update={"kafka_create_topics": True}))
    admin = await asyncio.to_thread(admin_client, settings)
    try:
        return await asyncio.to_thread(grant, admin, settings.topic_prefix)
    finally:
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--ca-file", default="")
    parser.add_argument("--admin-user", required=True)
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--replication", type=int, default=3)
    args = parser.parse_args()
    # Only the connection is read from these settings (none of a service's secrets are needed).
    settings = Settings(environment="development", kafka_bootstrap=args.bootstrap, kafka_security_protocol="SASL_SSL",
                        kafka_username=args.admin_user, kafka_password=sys.stdin.readline().strip(),
                        kafka_ca_file=args.ca_file, topic_prefix=args.topic_prefix,
                        topic_partitions=args.partitions, topic_replication=args.replication)
    print(f"{asyncio.run(prepare(settings))} ACLs granted")


if __name__ == "__main__":
    main()
