"""Check the KMS key a cluster's secrets are to be encrypted with, before anything is recorded or built.

EKS encrypts Kubernetes secrets with `secretsEncryption.keyARN` (envelope encryption), and CreateCluster
refuses a key it cannot use minutes into the cluster stack. Here one KMS DescribeKey in the cluster's
region refuses it at once: a 422 on `secretsEncryption.keyARN` when the key is in another region, does
not exist (or this account may not see it), is not enabled (disabled, pending deletion or import), or is
not a symmetric encryption key (KeyUsage ENCRYPT_DECRYPT, KeySpec SYMMETRIC_DEFAULT), which is the only
kind EKS takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn

from chalicelib.model.errors import SpecValidationError

if TYPE_CHECKING:
    from chalicelib.model.spec import ClusterSpec
    from chalicelib.operations.context import Context

FIELD = "secretsEncryption.keyARN"
# What KMS answers DescribeKey with for a key that is not there for this caller.
_NOT_FOUND = ("NotFoundException", "InvalidArnException", "AccessDeniedException")


def check_secrets_key(ctx: Context, spec: ClusterSpec) -> None:
    """A 422 on `secretsEncryption.keyARN` unless KMS has the key, enabled and symmetric, in the cluster's region."""
    if spec.secrets_encryption is None:
        return
    arn = spec.secrets_encryption.key_arn
    if spec.secrets_encryption.key_region != spec.region:
        _refuse(
            "kms_key_region",
            f"{arn} is a key in {spec.secrets_encryption.key_region}; EKS needs a key in the cluster's "
            f"region, {spec.region}",
        )
    metadata = _describe_key(ctx.clients.client("kms", spec.region), arn, spec.region)
    state = metadata.get("KeyState", "")
    if not metadata.get("Enabled") or state != "Enabled":
        _refuse("kms_key_not_enabled", f"{arn} is {state or 'not enabled'}; EKS needs an enabled key")
    usage = metadata.get("KeyUsage") or "ENCRYPT_DECRYPT"  # CreateKey's default, should an answer leave it out
    if usage != "ENCRYPT_DECRYPT":
        _refuse("kms_key_usage", f"{arn} is for {usage}; EKS needs a key for ENCRYPT_DECRYPT")
    key_spec = metadata.get("KeySpec") or metadata.get("CustomerMasterKeySpec")
    if key_spec != "SYMMETRIC_DEFAULT":
        _refuse("kms_key_spec", f"{arn} is a {key_spec} key; EKS needs a symmetric key (SYMMETRIC_DEFAULT)")


def _describe_key(kms: Any, arn: str, region: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    try:
        metadata: dict[str, Any] = kms.describe_key(KeyId=arn)["KeyMetadata"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code not in _NOT_FOUND:
            raise
        _refuse("kms_key_not_found", f"{arn} is not a KMS key this account can use in {region} ({code})")
    return metadata


def _refuse(rule: str, message: str) -> NoReturn:
    raise SpecValidationError(
        f"the cluster cannot encrypt its secrets with this key: {FIELD}",
        fields=[{"field": FIELD, "rule": rule, "message": message}],
    )
