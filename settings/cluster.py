"""Facts about the cluster: from explicit config, or from the outputs of the stack that created it."""

import json
from typing import Any

import pulumi

from settings.reader import ConfigReader

# Output names read from the cluster stack, and the config key that can give each one directly.
CLUSTER_STACK_OUTPUTS = {
    "kubeconfig": "clusterKubeconfig",
    "oidcProviderArn": "oidcProviderArn",
    "oidcIssuerUrl": "oidcIssuerUrl",
    "vpcId": "vpcId",
    "privateSubnetIds": "privateSubnetIds",
    "nodeSecurityGroupId": "nodeSecurityGroupId",
    "vpcCidr": "databaseCidr",
}


class ClusterFacts:
    """Each fact from explicit config if given, else from the cluster stack's outputs."""

    def __init__(self, read: ConfigReader) -> None:
        self._read = read
        mark = len(read.problems)
        self.stack = read.optional("clusterStack")
        if read.problems_since(mark):
            self.stack = None  # a malformed name is reported, not looked up
        self._reference = pulumi.StackReference(self.stack) if self.stack else None

    def get(self, output: str, needed_for: str | None) -> Any:
        key = CLUSTER_STACK_OUTPUTS[output]
        if output == "kubeconfig":
            explicit: Any = self._read.secret(key)
        elif output == "privateSubnetIds":
            explicit = self._read.string_list(key) or None
        else:
            explicit = self._read.optional(key)
        if explicit is not None:
            return explicit
        if self._reference is not None:
            value = self._reference.require_output(output)
            if output != "kubeconfig":
                return value
            # A kubeconfig holds the cluster's credentials: secret in this stack's state whether or not the cluster
            # stack exported it as one.
            return pulumi.Output.secret(value.apply(lambda v: v if isinstance(v, (str, list)) else json.dumps(v)))
        if needed_for:
            self._read.fail(key, f"is required for {needed_for}: set it, or set {self._read.key('clusterStack')} "
                                 f"to a stack that exports {output!r}")
        return None
