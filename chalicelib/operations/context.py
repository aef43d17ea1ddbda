"""What every use-case is given: the record store, the AWS clients and the settings."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.aws.clients import default_clients
from chalicelib.aws.store import Store
from chalicelib.model.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients
    from chalicelib.model.settings import Settings


class Context:
    """The store, clients and settings a use-case runs with; passed in, never looked up.

    The store is built on first use, so a step that never reads the table never
    creates a DynamoDB client (cold start pays only for what a step touches).
    """

    def __init__(self, clients: Clients, settings: Settings, store: Store | None = None) -> None:
        self.clients = clients
        self.settings = settings
        if store is not None:
            self.__dict__["store"] = store

    @cached_property
    def store(self) -> Store:
        return Store(self.clients.dynamodb(), self.settings.table_name)

    @property
    def sfn(self) -> Any:
        return self.clients.stepfunctions()

    @classmethod
    def default(cls) -> Context:
        """The deployed wiring: the process-wide clients and the settings of the environment."""
        return cls(default_clients(), get_settings())
