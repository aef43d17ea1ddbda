"""Templates too big for CloudFormation's request: put in the artifacts bucket and passed by TemplateURL."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

# CloudFormation's quotas on a template, "Understand CloudFormation quotas":
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
# A body up to 51,200 bytes travels in the request (TemplateBody); up to 1 MB, as an S3 object (TemplateURL).
TEMPLATE_BODY_LIMIT = 51_200
TEMPLATE_URL_LIMIT = 1_000_000
TEMPLATE_PREFIX = "templates"


class TemplateTooLargeError(Exception):
    """A template CloudFormation cannot take: over 1 MB, or over 51,200 bytes with no bucket to put it in."""


@dataclass(frozen=True)
class TemplateBucket:
    """Where templates too big for TemplateBody go: the deployment's artifacts bucket.

    `client` makes the S3 client (in the bucket's region) only when a template needs it,
    so the many steps whose templates fit the body never pay for one.
    """

    name: str
    client: Callable[[], Any]


def template_bucket(name: str, client: Callable[[], Any]) -> TemplateBucket | None:
    """The bucket the settings name, or None when the deployment has none."""
    return TemplateBucket(name, client) if name else None


def template_source(template_body: str, stack_name: str, bucket: TemplateBucket | None) -> dict[str, str]:
    """`TemplateBody` when CloudFormation takes the template in the request, else `TemplateURL` to a copy in S3.

    The copy is named by its content (`templates/STACK/SHA256.json`), so a retried step puts
    the same object again and CloudFormation reads the same template.
    """
    data = template_body.encode()
    if len(data) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": template_body}
    if len(data) > TEMPLATE_URL_LIMIT:
        raise TemplateTooLargeError(
            f"the template of {stack_name} is {len(data)} bytes; CloudFormation takes at most {TEMPLATE_URL_LIMIT}"
        )
    if bucket is None:
        raise TemplateTooLargeError(
            f"the template of {stack_name} is {len(data)} bytes, over CloudFormation's {TEMPLATE_BODY_LIMIT}-byte "
            "TemplateBody, and no artifacts bucket is configured to pass it by TemplateURL"
        )
    s3 = bucket.client()
    key = f"{TEMPLATE_PREFIX}/{stack_name}/{hashlib.sha256(data).hexdigest()}.json"
    s3.put_object(Bucket=bucket.name, Key=key, Body=data, ContentType="application/json")
    return {"TemplateURL": object_url(bucket.name, s3.meta.region_name, key)}


def object_url(bucket: str, region: str, key: str) -> str:
    """The virtual-hosted https URL of an S3 object, the form CloudFormation's TemplateURL takes.

    Naming the bucket's own region sends CloudFormation, in whichever region the stack is,
    straight to the bucket (no redirect from another region's endpoint).
    """
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{region}.{domain}/{key}"
