"""Pinned versions: the one place an image tag or the MLflow version is chosen.

The runtime tests install `mlflow==MLFLOW_VERSION` (requirements-dev.txt pins the same
number and a unit test keeps the two equal), so what CI exercises is what the image runs.
"""

from typing import Final

MLFLOW_VERSION: Final = "3.17.2"
# The `-full` tags (3.9.0+) carry psycopg2 and boto3; the plain tag crashes on a PostgreSQL backend.
MLFLOW_IMAGE: Final = f"ghcr.io/mlflow/mlflow:v{MLFLOW_VERSION}-full"

POSTGRES_IMAGE: Final = "docker.io/library/postgres:17.7"
# Debian-based postgres images run the server as uid/gid 999.
POSTGRES_UID: Final = 999

# MinIO's community repository is archived (2026) and these are its last published images: they get no fixes, and
# are dev-only here (docs/dev.md, "MinIO, the dev store, is frozen upstream"). Pinned by digest, so the tag cannot
# move: the multi-platform index digests quay.io serves for these tags (not pulled here, no registry access; the
# same digests are pinned by several public projects).
MINIO_IMAGE: Final = ("quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
                      "@sha256:14cea493d9a34af32f524e538b8346cf79f3321eff8e708c1e2960462bd8936e")
MINIO_CLIENT_IMAGE: Final = ("quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z"
                             "@sha256:a7fe349ef4bd8521fb8497f55c6042871b2ae640607cf99d9bede5e9bdf11727")

OAUTH2_PROXY_IMAGE: Final = "quay.io/oauth2-proxy/oauth2-proxy:v7.15.2"
# The distroless oauth2-proxy image runs as uid 65532 ("nonroot").
OAUTH2_PROXY_UID: Final = 65532
POSTGRES_EXPORTER_IMAGE: Final = "quay.io/prometheuscommunity/postgres-exporter:v0.18.1"
# Cloudflare's tunnel connector (distroless, uid 65532), for frontDoor cloudflare.
CLOUDFLARED_IMAGE: Final = "docker.io/cloudflare/cloudflared:2026.8.2"
CLOUDFLARED_UID: Final = 65532
# PgBouncer, the opt-in pooler between the server pods and PostgreSQL (mlflow_postgres/pooler.py): CloudNativePG's
# image (github.com/cloudnative-pg/pgbouncer-containers: Debian trixie-slim with PGDG's pgbouncer package, rebuilt by
# Renovate as Debian's base and PGDG's package move; CloudNativePG's operator defaults to it). Bitnami's free images,
# the usual choice before, were withdrawn in 2025. The tag is rebuilt with each base image, so the digest holds it:
# the multi-platform index digest public projects pin for 1.25.2 (not pulled here, no registry access). Its entrypoint
# is a shell wrapper, so the pods run pgbouncer itself.
PGBOUNCER_IMAGE: Final = ("ghcr.io/cloudnative-pg/pgbouncer:1.25.2"
                          "@sha256:15c9765980546b8660ff105c06ad6ef9d2001fb9c5b31400021a1952cbe49930")
