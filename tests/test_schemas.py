"""Every Kubernetes object both stacks declare passes strict schema validation.

Strict mode rejects unknown fields, so a misspelt key (which the API server would drop
silently with server-side apply off) fails here instead of on a cluster.
"""

from typing import Any

import kubernetes_validate
import pytest
from crd_schema import CUSTOM_API_GROUPS as CUSTOM_RESOURCE_API_GROUPS

from harness import ProgramRun, Registration, unwrap_secrets

# The newest schema kubernetes-validate ships, and the oldest Kubernetes minor EKS and kind still serve.
KUBERNETES_VERSIONS = ("1.37.0", "1.32.0")
# Custom resources have no schema here: every API group with a vendored CRD schema (Gateway API, NGINX Gateway
# Fabric, AWS Load Balancer Controller) and monitoring.coreos.com. tests/test_custom_resource_schemas.py validates
# them against their CRDs' schemas, and fails for a custom resource that has none.
CUSTOM_API_GROUPS = CUSTOM_RESOURCE_API_GROUPS


def as_manifest(obj: Registration) -> dict[str, Any]:
    """The object as kubectl would send it: outputs carry provider-assigned names; no secret wrappers."""
    manifest: dict[str, Any] = _integral_floats_to_ints(unwrap_secrets(obj.outputs))
    return manifest


def _integral_floats_to_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral_floats_to_ints(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_integral_floats_to_ints(v) for v in value]
    return value


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_passes_strict_validation(any_stack: ProgramRun, version: str) -> None:
    objects = [o for o in any_stack.kubernetes_objects()
               if not str(o.plain_inputs.get("apiVersion", "")).startswith(CUSTOM_API_GROUPS)]
    assert len(objects) >= 8
    failures = []
    for obj in objects:
        try:
            kubernetes_validate.validate(as_manifest(obj), version, strict=True)
        except kubernetes_validate.ValidationError as err:
            failures.append(f"{obj.urn}: {err.message} at {list(err.path)}")
    assert failures == []


def test_a_misspelt_field_is_caught(dev: ProgramRun) -> None:
    """Guard the guard: strict validation must reject an unknown field in a pod spec."""
    manifest = as_manifest(dev.one("kubernetes:apps/v1:Deployment", "mlflow"))
    manifest["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, KUBERNETES_VERSIONS[0], strict=True)
