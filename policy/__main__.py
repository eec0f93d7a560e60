"""The mlflow-platform CrossGuard policy pack: `pulumi preview --policy-pack policy`.

Only adapts the rules in rules.py; never import this module in tests (it starts the policy server).
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from rules import RESOURCE_RULES, ResourceRule, s3_bucket_controls


def _resource_policy(name: str, description: str, rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for message in rule(args.resource_type, args.props):
            report(message)

    return ResourceValidationPolicy(name=name, description=description, validate=validate)


def _bucket_controls(args: StackValidationArgs, report: ReportViolation) -> None:
    for message in s3_bucket_controls([(r.resource_type, r.props) for r in args.resources]):
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
