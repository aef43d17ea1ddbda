"""The local engine's CloudFormation runs the SAM transform, as AWS's does.

`chalice package` emits a SAM template (`Transform: AWS::Serverless-2016-10-31`).
On AWS, CloudFormation expands it with the SAM translator when a stack or change
set is created; moto does not. This installs that step (the same translator AWS
publishes), plus what moto's Step Functions model lacks for SAM's output:
`DefinitionS3Location` (read from the engine's S3) and `DefinitionSubstitutions`;
the gateway responses in an API's `Body`, and the models for the alarms and API stage the
deployment declares (local/deployment_models.py).
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel

from local import deployment_models
from local.cfn_models import LocalModel

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_installed = False


class _NoManagedPolicies:
    """SAM asks for AWS managed policy ARNs only for `Policies:` by name; ekspress names its roles."""

    def load(self) -> dict[str, str]:
        return {}


def transform(template: dict[str, Any]) -> dict[str, Any]:
    """Expand AWS::Serverless::* resources into plain CloudFormation (no-op without the transform)."""
    declared = template.get("Transform")
    names = declared if isinstance(declared, list) else [declared]
    if SAM_TRANSFORM not in names:
        return template
    from samtranslator.translator.transform import transform as sam_transform

    return dict(sam_transform(template, {}, _NoManagedPolicies()))


def _definition(properties: dict[str, Any], account_id: str, partition: str) -> str:
    """The definition a StepFunctions resource describes: inline or in S3, with substitutions filled."""
    definition = properties.get("DefinitionString") or ""
    if not definition and "Definition" in properties:
        definition = json.dumps(properties["Definition"])
    location = properties.get("DefinitionS3Location")
    if location:
        from moto.s3.models import s3_backends

        key = s3_backends[account_id][partition].get_object(location["Bucket"], location["Key"])
        definition = key.value.decode()  # type: ignore[union-attr]
    for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + name + "}", str(value))
    return str(definition)


def _import_swagger(api: Any, body: dict[str, Any], account_id: str, region_name: str) -> None:
    """Resources, methods (with their authorization) and gateway responses from a Swagger 2.0 `Body`."""
    from moto.apigateway.models import apigateway_backends

    backend = apigateway_backends[account_id][region_name]
    for response_type, response in (body.get("x-amazon-apigateway-gateway-responses") or {}).items():
        api.put_gateway_response(
            response_type,
            response.get("statusCode"),
            response.get("responseParameters") or {},
            response.get("responseTemplates") or {},
        )
    schemes = body.get("securityDefinitions") or {}
    for path, operations in sorted((body.get("paths") or {}).items()):
        resource = api.default
        for part in [p for p in path.split("/") if p]:
            children = [r for r in api.resources.values() if r.parent_id == resource.id and r.path_part == part]
            resource = children[0] if children else backend.create_resource(api.id, resource.id, part)
        for method, operation in operations.items():
            if method.startswith("x-") or not isinstance(operation, dict):
                continue
            names = [name for requirement in operation.get("security") or [] for name in requirement]
            iam = any((schemes.get(n) or {}).get("x-amazon-apigateway-authtype") == "awsSigv4" for n in names)
            backend.put_method(api.id, resource.id, method.upper(), "AWS_IAM" if iam else "NONE")
            integration = operation.get("x-amazon-apigateway-integration")
            if integration:
                backend.put_integration(
                    api.id,
                    resource.id,
                    method.upper(),
                    integration_type=str(integration["type"]).upper(),
                    uri=str(integration.get("uri", "")),
                    integration_method=str(integration.get("httpMethod", "POST")),
                    passthrough_behavior=integration.get("passthroughBehavior"),
                    content_handling=integration.get("contentHandling"),
                )


class SecretModel(LocalModel, CloudFormationModel):
    """AWS::SecretsManager::Secret, which moto's CloudFormation lacks: Ref is the secret's ARN."""

    CFN_TYPE = "AWS::SecretsManager::Secret"
    CFN_NAME_PROPERTY = "Name"

    def __init__(self, arn: str) -> None:
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create(cls, properties: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> SecretModel:
        import secrets

        from moto.secretsmanager.models import secretsmanager_backends

        value = properties.get("SecretString") or secrets.token_urlsafe(24)
        created = secretsmanager_backends[account_id][region_name].create_secret(
            name=properties.get("Name", resource_name),
            secret_string=value,
            secret_binary=None,
            description=properties.get("Description"),
            tags=properties.get("Tags", []),
            kms_key_id=None,
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(json.loads(created)["ARN"])

    def delete(self, account_id: str, region_name: str) -> None:
        """Without a recovery window, as CloudFormation deletes a secret, so its name is free again at once.

        CloudFormation force-deletes (https://github.com/aws-cloudformation/cloudformation-coverage-roadmap/issues/1999).
        """
        from moto.secretsmanager.models import secretsmanager_backends

        secretsmanager_backends[account_id][region_name].delete_secret(
            secret_id=self.arn, recovery_window_in_days=None, force_delete_without_recovery=True
        )


def install() -> None:
    global _installed
    if _installed:
        return
    deployment_models.register()
    from moto.cloudformation import models as cfn
    from moto.stepfunctions.models import StateMachine, cfn_to_api_tags
    from moto.stepfunctions.responses import get_backend

    parse = cfn.Stack.parse_template

    def parse_template(template: str) -> dict[str, Any]:
        return transform(parse(template))

    cfn.Stack.parse_template = staticmethod(parse_template)  # type: ignore[method-assign]

    change_set_parse = cfn.ChangeSet._parse_template

    def parse_change_set(self: Any) -> None:
        change_set_parse(self)
        self.template_dict = transform(self.template_dict)

    cfn.ChangeSet._parse_template = parse_change_set  # type: ignore[method-assign]

    # moto applies a change set's resources but keeps the stack's outputs from before it.
    apply = cfn.ChangeSet.apply

    def apply_change_set(self: Any) -> None:
        apply(self)
        self.stack.template_dict = self.template_dict
        self.stack.output_map = self.stack._create_output_map()

    cfn.ChangeSet.apply = apply_change_set  # type: ignore[method-assign]

    # `aws cloudformation deploy` hands over templates by S3 URL; moto reads path-style
    # URLs only for a host named localhost, and the engine listens on 127.0.0.1.
    from moto.cloudformation import responses

    from_s3 = responses.get_stack_from_s3_url

    def get_stack_from_s3_url(template_url: str, account_id: str, partition: str) -> str:
        return str(from_s3(template_url.replace("//127.0.0.1:", "//localhost:", 1), account_id, partition))

    responses.get_stack_from_s3_url = get_stack_from_s3_url

    def create_state_machine(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        from moto.utilities.utils import get_partition

        properties = cloudformation_json["Properties"]
        # The back end the Step Functions API serves (the executing one, on the engine).
        backend = get_backend(account_id, region_name)
        tags = cfn_to_api_tags(properties.get("Tags", []))
        return backend.create_state_machine(
            properties.get("StateMachineName", resource_name),
            _definition(properties, account_id, get_partition(region_name)),
            properties.get("RoleArn", ""),
            tags=tags,
        )

    # An API defined by an OpenAPI `Body` (SAM's output) takes its name from the document.
    from moto.apigateway.models import RestAPI

    create_rest_api = RestAPI.create_from_cloudformation_json

    def create_rest_api_from_body(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any
    ) -> Any:
        properties = cloudformation_json["Properties"]
        body = properties.get("Body") or {}
        if "Name" not in properties:
            properties["Name"] = (body.get("info") or {}).get("title") or resource_name
        api = create_rest_api(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        _import_swagger(api, body, account_id, region_name)
        return api

    RestAPI.create_from_cloudformation_json = classmethod(create_rest_api_from_body)  # type: ignore[method-assign,assignment]
    StateMachine.create_from_cloudformation_json = classmethod(create_state_machine)  # type: ignore[method-assign,assignment]
    _installed = True
