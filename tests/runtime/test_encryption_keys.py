"""MLflow's encryption keys as the stack sets them (mlflow_platform/mlflow_server/encryption_keys.py): two server
processes started from the same declared pod, as two replicas or one pod before and after a restart."""

from collections.abc import Iterator

import mlflow
import psycopg2
import pytest
from mlflow.entities.webhook import WebhookAction, WebhookEntity, WebhookEvent
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.crypto import DEFAULT_KEK_PASSPHRASE, KEKManager, _decrypt_secret

from runtime.clients import gateway_endpoint
from runtime.platform import Platform, RunningServer, stopping

pytestmark = pytest.mark.runtime


@pytest.fixture(scope="module")
def replicas(platform: Platform, migrations: list[object]) -> Iterator[tuple[RunningServer, RunningServer]]:
    with stopping(platform.start_server("replica-a")) as first, stopping(platform.start_server("replica-b")) as second:
        yield first, second


def test_a_webhook_secret_written_by_one_replica_is_read_by_the_other(
        replicas: tuple[RunningServer, RunningServer]) -> None:
    """Unset, each process encrypts with a random key of its own and the other answers 500 on the webhook."""
    first, second = replicas
    # A public address given literally: MLflow refuses webhook URLs that resolve to private ones.
    created = MlflowClient(first.url).create_webhook(
        name="on-new-version", url="https://1.1.1.1/hook", secret="shared-signing-secret",
        events=[WebhookEvent(WebhookEntity.MODEL_VERSION, WebhookAction.CREATED)])
    read = MlflowClient(second.url).get_webhook(created.webhook_id)
    assert read.name == "on-new-version"


def test_a_gateway_key_is_not_readable_with_mlflows_default_passphrase(
        platform: Platform, replicas: tuple[RunningServer, RunningServer]) -> None:
    first, _ = replicas
    mlflow.set_tracking_uri(first.url)
    try:
        gateway_endpoint("encrypted")
    finally:
        mlflow.set_tracking_uri(None)
    with psycopg2.connect(platform.postgres.url_for(platform.database)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT secret_id, secret_name, encrypted_value, wrapped_dek FROM secrets "
                       "WHERE secret_name = 'encrypted-key'")
        secret_id, secret_name, encrypted, wrapped = cursor.fetchone()
    with pytest.raises(MlflowException):
        _decrypt_secret(bytes(encrypted), bytes(wrapped), KEKManager(DEFAULT_KEK_PASSPHRASE, 1), secret_id, secret_name)
    passphrase = platform.cluster.secrets[("mlflow-encryption-keys", "kek-passphrase")]
    assert _decrypt_secret(bytes(encrypted), bytes(wrapped), KEKManager(passphrase, 1), secret_id,
                           secret_name) == {"api_key": "sk-not-a-real-key"}
