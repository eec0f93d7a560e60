"""Reusable Pulumi components of the MLflow platform."""
