"""The fast local deploy builds what the packaged template deploys.

Every other e2e test runs on `LocalEngine.deploy()`, which creates the table, the task
functions and the state machines one call at a time. `make deploy` ships the template
(infra/template.yaml merged by `chalice package`). Both are deployed into the local engine
in turn and read back through the AWS APIs, so a difference is one the tests would hide:
the task functions and their handlers, the settings each function is configured with,
the state machines and their definitions, and the table's keys, indexes and TTL.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from chalicelib.aws.store import TABLE_DEFINITION, TTL_ATTRIBUTE
from chalicelib.model import naming, settings
from local.engine import STAGE, STATEMACHINE_DIR, LocalEngine
from tests.e2e.local_package import build_copy

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

REGION = "us-west-2"
API_HANDLER = "APIHandler"  # Chalice's logical id for the API's function
# Settings the template gives every function that the fast deploy leaves unset, on purpose: it
# creates neither the stack role nor the Kubernetes roles, so stacks are built with the caller's
# credentials and clusters get no access entries for the service (chalicelib/model/settings.py).
NOT_IN_FAST_DEPLOY = {settings.ENV_STACK_ROLE_ARN, settings.ENV_KUBERNETES_ROLE_ARNS}


def logical_id(task: str) -> str:
    """`create_cluster_stack` -> `CreateClusterStack`, the function's logical id in the template."""
    return naming.function_arn_placeholder(task).removesuffix("FunctionArn")


@dataclass(frozen=True)
class Function:
    handler: str
    settings: frozenset[str]  # the EKSPRESS_* names it is configured with
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Deployed:
    """What a deployment made, keyed as the template names things."""

    functions: dict[str, Function]  # by logical id
    machines: dict[str, Any]  # by name: the definition, each function ARN written back as `${...FunctionArn}`
    table: dict[str, Any]
    ttl: dict[str, Any]


def read_back(engine: LocalEngine, logical_ids: dict[str, str]) -> Deployed:
    """The functions, state machines and table the engine holds; `logical_ids` maps function name -> logical id."""
    functions: dict[str, Function] = {}
    placeholders: dict[str, str] = {}
    lam = engine.client("lambda")
    for page in lam.get_paginator("list_functions").paginate():
        for fn in page["Functions"]:
            logical = logical_ids.get(fn["FunctionName"], fn["FunctionName"])
            names = (fn.get("Environment") or {}).get("Variables", {})
            reserved = lam.get_function_concurrency(FunctionName=fn["FunctionName"]).get("ReservedConcurrentExecutions")
            settings_given = frozenset(k for k in names if k.startswith("EKSPRESS_"))
            functions[logical] = Function(fn["Handler"], settings_given, reserved)
            placeholders[fn["FunctionArn"]] = "${" + logical + "FunctionArn}"
    sfn = engine.client("stepfunctions")
    machines = {
        machine["name"]: unsubstitute(
            json.loads(sfn.describe_state_machine(stateMachineArn=machine["stateMachineArn"])["definition"]),
            placeholders,
        )
        for machine in sfn.list_state_machines()["stateMachines"]
    }
    ddb = engine.client("dynamodb")
    table_name = os.environ[settings.ENV_TABLE_NAME]  # what the functions are configured with
    table = ddb.describe_table(TableName=table_name)["Table"]
    ttl = ddb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    return Deployed(functions, machines, table_shape(table), ttl)


def unsubstitute(value: Any, placeholders: dict[str, str]) -> Any:
    """A definition with every value that is a function ARN put back as the placeholder it was filled from."""
    if isinstance(value, dict):
        return {k: unsubstitute(v, placeholders) for k, v in value.items()}
    if isinstance(value, list):
        return [unsubstitute(v, placeholders) for v in value]
    return placeholders.get(value, value) if isinstance(value, str) else value


def table_shape(table: dict[str, Any]) -> dict[str, Any]:
    """Keys, attributes, indexes and billing, in one order, from a definition or a DescribeTable."""

    def by(key: str, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(items, key=lambda item: str(item[key]))

    indexes = ({k: i[k] for k in ("IndexName", "KeySchema", "Projection")} for i in table["GlobalSecondaryIndexes"])
    return {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": by("AttributeName", table["AttributeDefinitions"]),
        "GlobalSecondaryIndexes": by("IndexName", indexes),
        "LocalSecondaryIndexes": by("IndexName", table.get("LocalSecondaryIndexes") or []),
        "BillingMode": (table.get("BillingModeSummary") or table)["BillingMode"],
    }


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make package` for the local stage, the build tests/e2e/test_deployment.py deploys (one per session)."""
    return build_copy(tmp_path_factory)


@pytest.fixture(scope="module")
def template(build: Path) -> dict[str, Any]:
    return dict(yaml.safe_load((build / "sam.yaml").read_text()))


@pytest.fixture(scope="module")
def fast() -> Deployed:
    """`LocalEngine.deploy()`, the setup every other e2e test runs on."""
    from app import app

    engine = LocalEngine(region=REGION, poll_scale=0.001).start()
    try:
        names = {
            naming.lambda_function_name(app.app_name, STAGE, fn.name): logical_id(fn.name)
            for fn in [*app.pure_lambda_functions, *app.event_sources]
        }
        return read_back(engine, names)
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def packaged(build: Path, fast: Deployed) -> Deployed:
    """The template deployed with `aws cloudformation package`/`deploy` (after `fast`: one engine at a time)."""
    engine = LocalEngine(region=REGION, poll_scale=0.001, package_dir=build).start()
    try:
        cfn = engine.client("cloudformation")
        names = {
            resource["PhysicalResourceId"]: resource["LogicalResourceId"]
            for page in cfn.get_paginator("list_stack_resources").paginate(StackName=engine.stack_name)
            for resource in page["StackResourceSummaries"]
            if resource["ResourceType"] == "AWS::Lambda::Function"
        }
        return read_back(engine, names)
    finally:
        engine.stop()


def test_the_same_task_functions_with_the_same_handlers(fast: Deployed, packaged: Deployed) -> None:
    from app import app

    # The tasks and the schedules' functions (no rule runs those locally: a claim invokes the fill by name).
    deployed = {logical_id(fn.name) for fn in [*app.pure_lambda_functions, *app.event_sources]}
    assert set(fast.functions) == deployed
    # The template has one more, which the local engine serves otherwise: the API (Chalice's local server).
    assert set(packaged.functions) - deployed == {API_HANDLER}
    assert {t: fast.functions[t].handler for t in deployed} == {t: packaged.functions[t].handler for t in deployed}
    # The pools' fill runs one at a time on both (.chalice/config.json's reserved_concurrency).
    concurrency = {t: fast.functions[t].reserved_concurrency for t in deployed}
    assert concurrency == {t: packaged.functions[t].reserved_concurrency for t in deployed}
    assert concurrency[logical_id(naming.POOL_FILL)] == 1


def test_functions_are_configured_with_the_settings_the_template_gives_them(fast: Deployed, packaged: Deployed) -> None:
    for logical, function in fast.functions.items():
        deployed = packaged.functions[logical].settings
        assert function.settings == deployed - NOT_IN_FAST_DEPLOY, logical
    # The template gives each of them everything the fast deploy leaves out: the list above is not stale.
    assert all(f.settings >= NOT_IN_FAST_DEPLOY for f in packaged.functions.values())


def test_the_same_state_machines_from_the_same_definitions(fast: Deployed, packaged: Deployed) -> None:
    names = {stem: f"ekspress-{STAGE}-{stem.replace('_', '-')}" for stem in settings.STATE_MACHINE_ENV}
    assert set(fast.machines) == set(packaged.machines) == set(names.values())
    for stem, name in names.items():
        source = json.loads((STATEMACHINE_DIR / f"{stem}.asl.json").read_text())
        # Every placeholder was filled with one of this deployment's functions, the same one on both.
        assert fast.machines[name] == source, name
        assert packaged.machines[name] == source, name


def test_the_same_table_keys_indexes_and_ttl(fast: Deployed, packaged: Deployed, template: dict[str, Any]) -> None:
    assert fast.table == packaged.table == table_shape(TABLE_DEFINITION)
    # moto's CloudFormation drops a table's TimeToLiveSpecification, so the packaged side is the template itself.
    declared = template["Resources"]["ClustersTable"]["Properties"]["TimeToLiveSpecification"]
    assert declared == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert fast.ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": declared["AttributeName"]}
