"""eksctl's `wellKnownPolicies`: named permission sets a service account's role can ask for by flag.

Used by add-ons (`addons[].wellKnownPolicies`), pod identity associations
(`iam.podIdentityAssociations[].wellKnownPolicies`) and IAM service accounts. What each flag grants
is built in chalicelib/cfn/well_known_policies.py.
"""

from __future__ import annotations

from pydantic import Field

from chalicelib.model.validation import SpecModel

# eksctl's flags, in the order its schema lists them.
FLAGS = (
    "imageBuilder",
    "autoScaler",
    "awsLoadBalancerController",
    "externalDNS",
    "certManager",
    "ebsCSIController",
    "efsCSIController",
)


class WellKnownPolicies(SpecModel):
    """Each flag gives the role one tool's permissions (all off by default, as eksctl)."""

    image_builder: bool = False
    auto_scaler: bool = False
    aws_load_balancer_controller: bool = False
    external_dns: bool = Field(default=False, alias="externalDNS")
    cert_manager: bool = False
    ebs_csi_controller: bool = Field(default=False, alias="ebsCSIController")
    efs_csi_controller: bool = Field(default=False, alias="efsCSIController")

    def enabled(self) -> list[str]:
        """The flags that are on, by eksctl's names."""
        dumped = self.model_dump(by_alias=True)
        return [flag for flag in FLAGS if dumped[flag]]

    @property
    def any(self) -> bool:
        """Whether any flag is on (a role with none of them gets nothing from here)."""
        return bool(self.enabled())
