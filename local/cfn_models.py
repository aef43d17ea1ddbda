"""What every local CloudFormation model for moto writes alike: its type, name property, GetAtt and creation.

moto's CloudFormation skips resource types it has no model for. A local model (local/eks_models.py,
local/sam.py) fills one in: it declares its type, the property that names it and its `Fn::GetAtt`
attributes here, and writes only `create` (and `delete`, `physical_resource_id`) itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


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
        return cls.create(cloudformation_json.get("Properties", {}), resource_name, account_id, region_name)

    @classmethod
    def create(cls, properties: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> Self:
        """The resource a template's `Properties` describe, made in moto's back end."""
        raise NotImplementedError(cls.CFN_TYPE)


def refresh() -> None:
    """Make moto's CloudFormation see models defined since it first listed them (it caches its list)."""
    from moto.cloudformation import parsing  # moto's CloudFormation imports every service's models: only when used

    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
