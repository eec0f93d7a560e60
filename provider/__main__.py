"""The component provider: the six components to every Pulumi language, with the schema the SDK infers from them.

Run by the Pulumi CLI (`pulumi package add`, then each `pulumi up` of a consumer) as `python <this directory>
<engine address>`; it prints the port of its gRPC server. docs/components.md.
"""

from pulumi.provider.experimental import component_provider_host

from mlflow_platform import COMPONENTS, PACKAGE_NAME, __version__

if __name__ == "__main__":
    component_provider_host(components=list(COMPONENTS), name=PACKAGE_NAME, version=__version__)
