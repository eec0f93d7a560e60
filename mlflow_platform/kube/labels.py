"""The app.kubernetes.io/* labels every object carries."""

PART_OF = "mlflow-platform"


def selector_labels(app: str, instance: str, component: str) -> dict[str, str]:
    """The immutable subset used in selectors: never add a label here that may change."""
    return {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
    }


def standard_labels(app: str, instance: str, component: str) -> dict[str, str]:
    return {
        **selector_labels(app, instance, component),
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }
