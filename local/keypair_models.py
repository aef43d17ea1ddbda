"""A CloudFormation model for AWS::EC2::KeyPair, which moto's CloudFormation does not know.

The service imports a node group's `ssh.publicKey` as a key pair in the group's own stack, so the
key goes when the group goes. Here the resource is what EC2's ImportKeyPair does in moto's EC2:
a name already taken, or material EC2 cannot read, fails the resource as CloudFormation reports it.
Every property is create-only in CloudFormation's schema, so an update never reaches the model.

Ref is the key's name and `KeyPairId`, `KeyFingerprint` its attributes, as CloudFormation's.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.ec2.models import ec2_backends

from local.cfn_models import LocalModel, handler_failed, refresh, service_errors, service_failed


class KeyPairModel(LocalModel, CloudFormationModel):
    CFN_TYPE = "AWS::EC2::KeyPair"
    CFN_NAME_PROPERTY = "KeyName"
    CFN_ATTRIBUTES = {
        "KeyPairId": lambda m: m.key.id,
        "KeyFingerprint": lambda m: m.key.key_fingerprint,
    }

    def __init__(self, key: Any) -> None:
        self.key = key

    @property
    def physical_resource_id(self) -> str:
        return str(self.key.key_name)

    @classmethod
    def create(cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> KeyPairModel:
        material = props.get("PublicKeyMaterial")
        if material is None:
            # CloudFormation would create a new key and keep its private half in SSM: never asked for here.
            raise handler_failed("Ec2", "InvalidParameterValue", "PublicKeyMaterial is required to import a key")
        tags = {tag["Key"]: tag["Value"] for tag in props.get("Tags") or []}
        try:
            key = ec2_backends[account_id][region_name].import_key_pair(props["KeyName"], material.encode(), tags)
        except service_errors() as refused:
            raise service_failed("Ec2", refused) from None
        return cls(key)

    def delete(self, account_id: str, region_name: str) -> None:
        ec2_backends[account_id][region_name].delete_key_pair(self.key.key_name)


def register() -> None:
    """Make moto's CloudFormation see the model above (its model list is cached)."""
    refresh()
    assert parsing.get_model_map()["AWS::EC2::KeyPair"] is KeyPairModel
