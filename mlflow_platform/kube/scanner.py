"""Scanner suppressions: a finding the platform keeps on purpose is annotated on its object with the reason.

checkov reads `checkov.io/skip<N>: <check id>=<reason>` from an object's annotations (checkov/kubernetes/
kubernetes_utils.py, get_skipped_checks); it splits the value on '=', so a reason cannot contain one.
"""

SKIP_PREFIX = "checkov.io/skip"
SECRETS_AS_ENV = "CKV_K8S_35"
IMAGE_DIGEST = "CKV_K8S_43"
HIGH_UID = "CKV_K8S_40"
TAG_PINNED = ("pinned by version tag (mlflow_platform/versions.py); give the image key a tag@sha256 digest to pin by "
              "digest")


def scanner_skips(reasons: dict[str, str], images: tuple[str, ...] = ()) -> dict[str, str]:
    """Annotations that suppress each check in `reasons` with its reason, plus the digest check while any of
    `images` is pinned by tag only."""
    if any("@" not in image for image in images):
        reasons = {**reasons, IMAGE_DIGEST: TAG_PINNED}
    for check, reason in reasons.items():
        if "=" in reason or not reason.strip():
            raise ValueError(f"a suppression reason must be one line without '=': {check}={reason!r}")
    return {f"{SKIP_PREFIX}{index}": f"{check}={reason}"
            for index, (check, reason) in enumerate(sorted(reasons.items()), start=1)}
