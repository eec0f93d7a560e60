"""MLflow's own encryption keys, generated once and shared by every server pod.

Unset, MLflow 3.17 falls back to what no deployment should use (read in its source):
- `MLFLOW_CRYPTO_KEK_PASSPHRASE` wraps the AI gateway's provider keys; without it MLflow uses its public default
  passphrase (mlflow/utils/crypto.py DEFAULT_KEK_PASSPHRASE), so anyone with the database or a backup decrypts them.
- `MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY` encrypts webhook secrets; without it every process makes its own random key
  (mlflow/store/model_registry/dbmodels/models.py), so another replica, or the same pod after a restart, cannot read
  a webhook's secret and answers 500.
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlflow_platform.kube.env import secret_env

KEK_PASSPHRASE_ENV = "MLFLOW_CRYPTO_KEK_PASSPHRASE"
WEBHOOK_KEY_ENV = "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"


def encryption_key_env(parent: pulumi.Resource, name: str, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """The Secret holding both keys, and the environment entries that read them."""
    child = pulumi.ResourceOptions(parent=parent)
    # MLflow asks for a high-entropy passphrase of 32 characters or more (mlflow/server/constants.py).
    passphrase = random.RandomPassword(f"{name}-kek-passphrase", length=48, special=False, opts=child)
    # A Fernet key: 32 random bytes in URL-safe base64.
    webhook_key = random.RandomBytes(f"{name}-webhook-key", length=32, opts=child)
    secret = k8s.core.v1.Secret(
        f"{name}-encryption-keys",
        metadata={**metadata, "name": f"{name}-encryption-keys"},
        type="Opaque",
        string_data={
            "kek-passphrase": passphrase.result,
            "webhook-key": webhook_key.base64.apply(lambda b: b.replace("+", "-").replace("/", "_")),
        },
        opts=child,
    )
    return [secret_env(KEK_PASSPHRASE_ENV, secret.metadata.name, "kek-passphrase"),
            secret_env(WEBHOOK_KEY_ENV, secret.metadata.name, "webhook-key")]
