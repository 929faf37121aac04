"""IAM and KMS policy documents shared by the stacks, built with awacs objects rather than JSON strings."""

from __future__ import annotations

from awacs import kms
from awacs.aws import Allow, Condition, Policy, Principal, Statement
from awacs.sts import AssumeRole
from troposphere import Sub

POLICY_VERSION = "2012-10-17"


def service_trust_policy(service: object) -> Policy:
    """A trust policy that lets one AWS service principal (e.g. ``ecs-tasks.amazonaws.com``) assume a role."""
    return Policy(
        Version=POLICY_VERSION,
        Statement=[Statement(Effect=Allow, Principal=Principal("Service", [service]), Action=[AssumeRole])],
    )


def account_root() -> Sub:
    """The ARN of this account's root principal: naming it in a key policy hands the decision to IAM."""
    return Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")


def kms_key_policy(service_principal: object, condition: Condition | None = None) -> Policy:
    """Key policy: the account administers the key (so IAM policies decide who else may use it), and one AWS
    service principal may use it for encryption, optionally under a condition naming the resources it
    serves."""
    use = Statement(
        Sid="ServiceUsesKey",
        Effect=Allow,
        Principal=Principal("Service", [service_principal]),
        Action=[
            kms.Decrypt,
            kms.DescribeKey,
            kms.Encrypt,
            kms.Action("GenerateDataKey*"),
            kms.Action("ReEncrypt*"),
        ],
        Resource=["*"],
    )
    if condition is not None:
        use.Condition = condition
    return Policy(
        Version=POLICY_VERSION,
        Statement=[
            Statement(
                Sid="AccountAdministersKey",
                Effect=Allow,
                Principal=Principal("AWS", [account_root()]),
                Action=[kms.Action("*")],
                Resource=["*"],
            ),
            use,
        ],
    )
