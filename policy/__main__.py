"""The mlflow-platform CrossGuard policy pack: `pulumi preview --policy-pack policy`.

Only adapts the rules in rules.py; never import this module in tests (it starts the policy server).
Enforcement levels and settings: `--policy-pack-config policy/config.example.json` (or your own copy).
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from rules import CONFIG_SCHEMAS, RESOURCE_RULES, ResourceRule, StackResource, rule_arguments, s3_bucket_controls


def _resource_policy(name: str, description: str, rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for message in rule(args.resource_type, args.props, **rule_arguments(name, args.get_config())):
            report(message)

    schema = CONFIG_SCHEMAS.get(name)
    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    config_schema=PolicyConfigSchema(properties=schema) if schema else None)


def _stack_resource(resource: PolicyResource) -> StackResource:
    dependencies = {d.urn for d in resource.dependencies}
    dependencies |= {d.urn for found in resource.property_dependencies.values() for d in found}
    return StackResource(resource.resource_type, resource.urn, resource.props, frozenset(dependencies))


def _bucket_controls(args: StackValidationArgs, report: ReportViolation) -> None:
    for message in s3_bucket_controls([_stack_resource(r) for r in args.resources]):
        report(message)


PolicyPack(
    name="mlflow-platform",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *(_resource_policy(name, description, rule) for name, (description, rule) in RESOURCE_RULES.items()),
        StackValidationPolicy(name="s3-bucket-controls", description="Every bucket has all its controls.",
                              validate=_bucket_controls),
    ],
)
