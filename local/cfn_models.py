"""What every local CloudFormation model for moto writes alike: its type, name property, GetAtt and creation.

moto's CloudFormation skips resource types it has no model for. A local model (local/eks_models.py,
local/sam.py, local/deployment_models.py) fills one in: it declares its type, the property that names it and
its `Fn::GetAtt` attributes here, and writes only `create` (and `delete`, `physical_resource_id`) itself.

moto takes whatever properties a template gives; CloudFormation checks them against the type's registry
schema first. A model with `CFN_CHECKED` does too (the schemas cfn-lint ships), and a model that raises
`ResourceFailed` fails its resource as CloudFormation would: the stack reports the resource's CREATE_FAILED
(or UPDATE_FAILED) event with the reason and rolls back, instead of the API call failing.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Self

from moto.cloudformation.exceptions import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# cfn-lint keeps a schema per region; these types' schemas are the same everywhere we deploy.
SCHEMA_REGION = "us-east-1"
# CloudFormation's handler error code for a service's error code.
_HANDLER_CODES = {
    "ResourceNotFoundException": "NotFound",
    "NotFoundException": "NotFound",
    "ResourceInUseException": "AlreadyExists",
    "ConflictException": "AlreadyExists",
    "InvalidParameterException": "InvalidRequest",
    "InvalidRequestException": "InvalidRequest",
    "BadRequestException": "InvalidRequest",
    "ValidationError": "InvalidRequest",
}


class ResourceFailed(ValidationError):
    """CloudFormation could not create or update a resource; `reason` is what the resource's stack event says.

    A CloudFormation ValidationError, so that where no stack takes the failure (a change set being
    executed) the API call fails with the reason rather than with an internal error.
    """

    def __init__(self, reason: str, logical_id: str = "") -> None:
        super().__init__(message=reason)
        self.reason = reason
        self.logical_id = logical_id


def handler_failed(service: str, code: str, message: str) -> ResourceFailed:
    """The failure CloudFormation reports when the service refused the call its resource handler made."""
    handler_code = _HANDLER_CODES.get(code, "GeneralServiceException")
    status = {"NotFound": 404, "AlreadyExists": 409}.get(handler_code, 400)
    return ResourceFailed(
        f'Resource handler returned message: "{message} (Service: {service}, Status Code: {status}, '
        f'Request ID: {uuid.uuid4()})" (RequestToken: {uuid.uuid4()}, HandlerErrorCode: {handler_code})'
    )


def service_errors() -> tuple[type[Exception], ...]:
    """The exceptions moto's back ends raise for a refused call (for `except`)."""
    from moto.core.exceptions import ServiceException
    from werkzeug.exceptions import HTTPException

    return (ServiceException, HTTPException)


def service_failed(service: str, error: Exception) -> ResourceFailed:
    """`handler_failed` for an error moto's back end raised (its code and message, however it keeps them)."""
    code = str(getattr(error, "TYPE", None) or getattr(error, "error_type", None) or getattr(error, "code", ""))
    message = str(getattr(error, "message", "") or "")
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        message = message or str(json.loads(error.description)["message"])  # type: ignore[attr-defined]
    return handler_failed(service, code or type(error).__name__, message or str(error))


# -- the registry schema ----------------------------------------------------------------


@functools.cache
def registry_schema(resource_type: str) -> dict[str, Any]:
    """The CloudFormation registry schema of `resource_type`, as cfn-lint ships it."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    return dict(PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, resource_type).schema)


def schema_properties(resource_type: str, key: str) -> list[str]:
    """A schema list of property pointers (`createOnlyProperties`, `primaryIdentifier`) as top-level names."""
    names = [pointer.split("/")[2] for pointer in registry_schema(resource_type).get(key, [])]
    return list(dict.fromkeys(names))


def check_properties(resource_type: str, properties: dict[str, Any], logical_id: str) -> dict[str, Any]:
    """`properties` as CloudFormation hands them to the resource handler, or the ResourceFailed it reports.

    CloudFormation first converts scalars to the types the schema declares ("300" for an integer,
    "true" for a boolean, 1 for a string), then validates: required and unknown keys, types, enums,
    lengths, patterns, and the schema's `requiredXor` / `dependentExcluded` rules.
    """
    from jsonschema import Draft7Validator

    schema = registry_schema(resource_type)
    converted = _convert(properties, schema, schema)
    problems = [_problem(error) for error in Draft7Validator(schema).iter_errors(converted)]
    problems += _exclusive_keys(schema, converted)
    if problems:
        raise ResourceFailed(
            f"Properties validation failed for resource {logical_id} with message: [{', '.join(sorted(problems))}]",
            logical_id,
        )
    return dict(converted)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        return dict(root.get("definitions", {}).get(ref.rsplit("/", 1)[-1], {}))
    return schema


def _convert(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """`value` with its scalars converted to the schema's types where CloudFormation converts them."""
    schema = _resolve(schema, root)
    kind = schema.get("type")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: _convert(v, props[k], root) if k in props else v for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items")
        return [_convert(v, items, root) for v in value] if isinstance(items, dict) else value
    if kind == "string" and isinstance(value, bool):
        return "true" if value else "false"
    if kind == "string" and isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if kind == "integer" and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
        if kind == "number" and re.fullmatch(r"-?\d+(\.\d*)?([eE][-+]?\d+)?", value.strip()):
            number = float(value)
            return int(number) if number.is_integer() and "." not in value else number
    return value


_JSON_TYPES = {
    str: "String",
    bool: "Boolean",
    int: "Integer",
    float: "BigDecimal",
    dict: "JSONObject",
    list: "JSONArray",
}


def _problem(error: Any) -> str:
    """One validation error in the words CloudFormation uses (its JSON pointer, then what is wrong)."""
    pointer = "#" + "".join(f"/{part}" for part in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [key for key in error.validator_value if key not in error.instance]
        return f"{pointer}: required key [{', '.join(missing)}] not found"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extra = [k for k in error.instance if k not in known and not any(re.search(p, k) for p in patterns)]
        return f"{pointer}: extraneous key [{', '.join(sorted(extra))}] is not permitted"
    if error.validator == "type":
        expected = error.validator_value if isinstance(error.validator_value, str) else error.validator_value[0]
        found = _JSON_TYPES.get(type(error.instance), type(error.instance).__name__)
        return f"{pointer}: expected type: {str(expected).capitalize()}, found: {found}"
    return f"{pointer}: failed validation constraint for keyword [{error.validator}]"


def _exclusive_keys(schema: dict[str, Any], properties: dict[str, Any]) -> list[str]:
    """The rules the registry states beside JSON Schema: exactly one of `requiredXor`; `dependentExcluded`."""
    problems = []
    choices = schema.get("requiredXor") or []
    given = [key for key in choices if key in properties]
    if choices and len(given) != 1:
        problems.append(f"#: exactly one of [{', '.join(choices)}] is required, found [{', '.join(given)}]")
    for key, excluded in (schema.get("dependentExcluded") or {}).items():
        clash = [other for other in excluded if key in properties and other in properties]
        if clash:
            problems.append(f"#: key [{key}] is not permitted with [{', '.join(clash)}]")
    return problems


# -- models -------------------------------------------------------------------------------


class LocalModel:
    """A moto CloudFormation model declared by class attributes; listed before `CloudFormationModel` in the bases.

    moto finds models among `CloudFormationModel.__subclasses__()`, its direct subclasses only, so
    a model names both: `class SecretModel(LocalModel, CloudFormationModel)`. An in-place update,
    where a model has one, stays its own `update_from_cloudformation_json`: moto takes a model
    without one for a resource it cannot update, and this mixin must not say otherwise.
    """

    CFN_TYPE: ClassVar[str]
    # The property that names the resource, "" when it has none.
    CFN_NAME_PROPERTY: ClassVar[str] = ""
    # `Fn::GetAtt` name -> its value from the model. None: any name passes moto's Outputs check
    # (its default) and none resolves.
    CFN_ATTRIBUTES: ClassVar[Mapping[str, Callable[[Any], Any]] | None] = None
    # Check a template's properties against the type's registry schema before `create` sees them.
    CFN_CHECKED: ClassVar[bool] = True
    # The properties the resource was made (or last updated) with, converted as CloudFormation does.
    cfn_properties: dict[str, Any]

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.CFN_TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.CFN_NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return cls.CFN_ATTRIBUTES is None or attr in cls.CFN_ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        getter = (self.CFN_ATTRIBUTES or {}).get(attribute_name)
        if getter is None:  # moto turns this into CloudFormation's "does not support attribute" error
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()
        return getter(self)

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> Self:
        logical_id = str(kwargs.get("LogicalId") or resource_name)
        properties = cls.checked(cloudformation_json.get("Properties", {}), logical_id)
        try:
            created = cls.create(properties, resource_name, account_id, region_name)
        except ResourceFailed as failed:
            failed.logical_id = failed.logical_id or logical_id
            raise
        created.cfn_properties = properties
        return created

    @classmethod
    def checked(cls, properties: dict[str, Any], logical_id: str) -> dict[str, Any]:
        return check_properties(cls.CFN_TYPE, properties, logical_id) if cls.CFN_CHECKED else properties

    @classmethod
    def create(cls, properties: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> Self:
        """The resource a template's `Properties` describe, made in moto's back end."""
        raise NotImplementedError(cls.CFN_TYPE)


class UpdatableModel(LocalModel):
    """A LocalModel CloudFormation updates as the type's registry schema says.

    A change to a create-only property replaces the resource: the new one is made, then the old one
    deleted (refused, as CloudFormation refuses it, when the new one would have the old one's name).
    Any other change is `update`, in place.
    """

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Self,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Self:
        logical_id = str(getattr(original_resource, "logical_resource_id", "") or new_resource_name)
        try:
            properties = cls.checked(cloudformation_json.get("Properties", {}), logical_id)
            before = getattr(original_resource, "cfn_properties", {})
            if all(before.get(p) == properties.get(p) for p in schema_properties(cls.CFN_TYPE, "createOnlyProperties")):
                updated = original_resource.update(properties, account_id, region_name)
            else:
                identity = schema_properties(cls.CFN_TYPE, "primaryIdentifier")
                if all(p in properties and before.get(p) == properties[p] for p in identity):
                    raise ResourceFailed(
                        "CloudFormation cannot update a stack when a custom-named resource requires replacing. "
                        f"Rename {original_resource.physical_resource_id} and update the stack again."
                    )
                updated = cls.create(properties, new_resource_name, account_id, region_name)
                original_resource.delete(account_id, region_name)
        except ResourceFailed as failed:
            failed.logical_id = failed.logical_id or logical_id
            raise
        updated.cfn_properties = properties
        return updated

    def update(self, properties: dict[str, Any], account_id: str, region_name: str) -> Self:
        """Apply `properties` in place (none of them create-only changed); return the resource."""
        raise NotImplementedError(self.CFN_TYPE)


# -- failed resources, as CloudFormation reports them --------------------------------------

_installed = False


def install() -> None:
    """Let a model's ResourceFailed fail its stack as CloudFormation does, not the CreateStack call.

    moto runs every resource inside CreateStack / UpdateStack, so an error a model raises would
    escape as the API call's error. On AWS the call succeeds and the stack reports the resource's
    failure: creation rolls back to ROLLBACK_COMPLETE, an update to UPDATE_ROLLBACK_COMPLETE.
    """
    global _installed
    if _installed:
        return
    from moto.cloudformation import models, parsing

    create = parsing.ResourceMap.create

    def create_resources(self: Any, template: dict[str, Any]) -> bool:
        try:
            return bool(create(self, template))
        except ResourceFailed as failed:
            stack = _stack_of(self)
            if stack is None:
                raise
            _roll_back_creation(stack, failed)
            return False  # not ready: moto leaves the status as the rollback set it

    update = models.Stack.update

    def update_stack(self: Any, template: str, *args: Any, **kwargs: Any) -> None:
        saved = _Saved(self)
        try:
            update(self, template, *args, **kwargs)
        except ResourceFailed as failed:
            saved.roll_back(failed)

    getitem = parsing.ResourceMap.__getitem__

    def get_after_dependencies(self: Any, key: str) -> Any:
        # moto makes a resource when something first refers to it (an output, a Ref): make what it
        # DependsOn first, as CloudFormation does (moto's own ordering covers only its creation pass).
        if key not in self._parsed_resources:
            depends = (self._resource_json_map.get(key) or {}).get("DependsOn") or []
            for dependency in [depends] if isinstance(depends, str) else depends:
                self[dependency]
        return getitem(self, key)

    parsing.ResourceMap.create = create_resources  # type: ignore[method-assign]
    parsing.ResourceMap.__getitem__ = get_after_dependencies  # type: ignore[method-assign]
    models.Stack.update = update_stack  # type: ignore[method-assign]
    _installed = True


def _stack_of(resource_map: Any) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    return cloudformation_backends[resource_map._account_id][resource_map._region_name].stacks.get(
        resource_map.stack_id
    )


def _resource_event(stack: Any, logical_id: str, status: str, reason: str, template: dict[str, Any]) -> Any:
    from moto.cloudformation.models import Event

    resource = stack.resource_map._parsed_resources.get(logical_id)
    return Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=str(getattr(resource, "physical_resource_id", "") or ""),
        resource_type=template.get("Resources", {}).get(logical_id, {}).get("Type", "AWS::CloudFormation::Stack"),
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )


def _roll_back_creation(stack: Any, failed: ResourceFailed) -> None:
    from moto.cloudformation.parsing import OutputMap

    logical_id = failed.logical_id or stack.name
    stack.events.append(_resource_event(stack, logical_id, "CREATE_FAILED", failed.reason, stack.template_dict))
    reason = f"The following resource(s) failed to create: [{logical_id}]. Rollback requested by user."
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
    with contextlib.suppress(Exception):  # what cannot go stays behind, as debris, not an error
        stack.resource_map.delete()
    # A rolled-back stack has no outputs; resolving moto's lazy ones would create the resources again.
    stack.output_map = OutputMap(stack.resource_map, {"Outputs": {}}, stack.stack_id)
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.status = "ROLLBACK_COMPLETE"


class _Saved:
    """A stack's template and resources before an update, to roll a failed update back to."""

    def __init__(self, stack: Any) -> None:
        resources = stack.resource_map
        self.stack = stack
        self.template = stack.template
        self.template_dict = stack.template_dict
        self.map_template = resources._template
        self.json_map = resources._resource_json_map
        self.parsed = dict(resources._parsed_resources)

    def roll_back(self, failed: ResourceFailed) -> None:
        """Back to the saved template; resources the update added are deleted (what it changed in place stays)."""
        stack, resources = self.stack, self.stack.resource_map
        logical_id = failed.logical_id or stack.name
        added = logical_id not in self.json_map
        status, verb = ("CREATE_FAILED", "create") if added else ("UPDATE_FAILED", "update")
        stack.events.append(_resource_event(stack, logical_id, status, failed.reason, stack.template_dict))
        stack._add_stack_event(
            "UPDATE_ROLLBACK_IN_PROGRESS",
            resource_status_reason=f"The following resource(s) failed to {verb}: [{logical_id}].",
        )
        for name, resource in list(resources._parsed_resources.items()):
            if name not in self.json_map and resource is not None and hasattr(resource, "delete"):
                with contextlib.suppress(Exception):
                    resource.delete(resources._account_id, resources._region_name)
        resources._parsed_resources.clear()
        resources._parsed_resources.update(self.parsed)
        resources._template, resources._resource_json_map = self.map_template, self.json_map
        stack.template, stack.template_dict = self.template, self.template_dict
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        stack.status = "UPDATE_ROLLBACK_COMPLETE"


def refresh() -> None:
    """Make moto's CloudFormation see models defined since it first listed them (it caches its list)."""
    from moto.cloudformation import parsing  # moto's CloudFormation imports every service's models: only when used

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
