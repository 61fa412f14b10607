"""Create the hub's MinIO buckets (idempotent): versioning everywhere, object lock on write-once,
and the expiry of the pipeline's work files.

Usage: python scripts/services/minio_buckets.py ENDPOINT ACCESS_KEY SECRET_KEY
"""

from __future__ import annotations

import sys

from minio import Minio
from minio.commonconfig import COMPLIANCE, ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, NoncurrentVersionExpiration, Rule
from minio.objectlockconfig import DAYS, ObjectLockConfig
from minio.versioningconfig import VersioningConfig

# Write-once buckets: object lock can only be switched on when a bucket is created. Department
# deliveries (landing) and issued licences must never be altered or deleted within retention.
LOCKED_BUCKETS = ("landing", "licences")
# Versioned working buckets (the object store adapter's default bucket is "hub").
VERSIONED_BUCKETS = ("hub",)
# Default retention on the loopback tier: one day in COMPLIANCE mode, enough to prove that a
# locked version cannot be deleted; production sets years.
RETENTION_DAYS = 1
# The ingest steps hand each other work files under work/<run>/ (the checked rows: about 55 MB
# per million rows). They can be derived again from the landed file, so they
# expire a week after they were written, long enough to retry or inspect a failed run; their
# deleted versions go a day later.
WORK_BUCKET = "hub"
WORK_PREFIX = "work/"
WORK_EXPIRY_DAYS = 7
WORK_RULE = "work-files-expire"


def _has_object_lock(client: Minio, bucket: str) -> bool:
    try:
        client.get_object_lock_config(bucket)
    except S3Error as exc:
        if exc.code == "ObjectLockConfigurationNotFoundError":
            return False
        raise
    return True


def ensure_buckets(client: Minio) -> list[str]:
    """Create missing buckets and (re)apply their versioning and lock rules; return what changed."""
    changes: list[str] = []
    for name in LOCKED_BUCKETS + VERSIONED_BUCKETS:
        locked = name in LOCKED_BUCKETS
        if not client.bucket_exists(name):
            client.make_bucket(name, object_lock=locked)
            changes.append(f"created {name}{' (object lock)' if locked else ''}")
        elif locked and not _has_object_lock(client, name):
            raise SystemExit(
                f"bucket {name!r} exists without object lock; it cannot be added later. "
                "Remove var/services/minio and run `make services-up` again."
            )
        client.set_bucket_versioning(name, VersioningConfig(ENABLED))
        if locked:
            client.set_object_lock_config(name, ObjectLockConfig(COMPLIANCE, RETENTION_DAYS, DAYS))
    client.set_bucket_lifecycle(
        WORK_BUCKET,
        LifecycleConfig(
            [
                Rule(
                    ENABLED,
                    rule_filter=Filter(prefix=WORK_PREFIX),
                    rule_id=WORK_RULE,
                    expiration=Expiration(days=WORK_EXPIRY_DAYS),
                    noncurrent_version_expiration=NoncurrentVersionExpiration(noncurrent_days=1),
                )
            ]
        ),
    )
    return changes


def main(argv: list[str]) -> int:
    """Command-line entry: ENDPOINT ACCESS_KEY SECRET_KEY."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    endpoint, access, secret = argv
    client = Minio(endpoint, access_key=access, secret_key=secret, secure=False)
    for change in ensure_buckets(client):
        print(f"[services] minio: {change}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
