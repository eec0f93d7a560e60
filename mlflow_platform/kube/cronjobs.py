"""What the platform's CronJobs (the database backup, gc) share."""

from typing import Any

from mlflow_platform.kube.pods import PodSettings

# A run missed (the controller down, the cluster full) still starts within the hour, never two at once; the last
# three runs of each outcome stay for `kubectl logs`; a failed run is retried twice, in a new pod.
MISSED_RUN_DEADLINE_SECONDS = 3600


def scheduled_job(schedule: str, labels: dict[str, str], pods: PodSettings, pod_spec: dict[str, Any],
                  deadline_seconds: int) -> dict[str, Any]:
    """A CronJob's spec running `pod_spec` (with the team's pod settings) on `schedule`, each run within
    `deadline_seconds`."""
    return {
        "schedule": schedule,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": MISSED_RUN_DEADLINE_SECONDS,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "metadata": {"labels": labels},
            "spec": {
                "backoffLimit": 2,
                "activeDeadlineSeconds": deadline_seconds,
                "template": pods.template(labels, {"restartPolicy": "Never", **pod_spec}),
            },
        },
    }
