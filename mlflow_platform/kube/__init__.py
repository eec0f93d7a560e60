"""Kubernetes building blocks every component shares: labels, pod hardening, env, resources, timeouts."""
