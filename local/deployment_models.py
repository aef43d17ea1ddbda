"""CloudFormation models for what the service's own deployment declares and moto's CloudFormation skips.

The packaged template (infra/template.yaml merged with Chalice's SAM output, see local/sam.py)
has CloudWatch alarms and the API's stage. moto has both back ends but no CloudFormation model
for either, so it warned and skipped them, and no test ever made one. These make them in moto's
back ends (PutMetricAlarm, CreateStage), update and delete them as CloudFormation does, and
check their properties against the registry schema first (local/cfn_models.py), so an alarm
that names a bad operator or statistic fails the deployment here as it would on AWS.
"""

from __future__ import annotations

import contextlib
from typing import Any

from moto.apigateway.models import Deployment, apigateway_backends
from moto.cloudwatch.models import Dimension, Metric, MetricDataQuery, MetricStat, cloudwatch_backends
from moto.core.common_models import CloudFormationModel

from local import cfn_models
from local.cfn_models import UpdatableModel, handler_failed, refresh, service_errors, service_failed


def _tags(raw: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or []}


def _queries(metrics: list[dict[str, Any]] | None) -> list[MetricDataQuery] | None:
    """An alarm's `Metrics` as moto's PutMetricAlarm reads them."""
    if not metrics:
        return None
    queries = []
    for metric in metrics:
        stat, found = metric.get("MetricStat") or {}, None
        described = stat.get("Metric") or {}
        if described.get("MetricName"):
            dimensions = [Dimension(d["Name"], d["Value"]) for d in described.get("Dimensions") or []]
            found = MetricStat(
                metric=Metric(described["MetricName"], described.get("Namespace", ""), dimensions),
                period=stat.get("Period"),
                stat=stat.get("Stat"),
                unit=stat.get("Unit"),
            )
        queries.append(
            MetricDataQuery(
                query_id=metric["Id"],
                label=metric.get("Label", ""),
                period=metric.get("Period"),
                return_data=metric.get("ReturnData", True),
                expression=metric.get("Expression"),
                metric_stat=found,
            )
        )
    return queries


def _check_alarm(props: dict[str, Any]) -> None:
    """What PutMetricAlarm refuses that the registry schema lets through."""
    if "EvaluationCriteria" in props:
        return  # a PromQL alarm: its criteria carry what follows
    problems = [key for key in ("EvaluationPeriods", "ComparisonOperator") if key not in props]
    if "Threshold" not in props and "ThresholdMetricId" not in props:
        problems.append("Threshold or ThresholdMetricId")
    if "MetricName" in props:
        problems += [key for key in ("Namespace", "Period") if key not in props]
        if "Statistic" not in props and "ExtendedStatistic" not in props:
            problems.append("Statistic or ExtendedStatistic")
    if problems:
        raise handler_failed("CloudWatch", "ValidationError", f"Missing required parameters: {', '.join(problems)}")


class AlarmModel(UpdatableModel, CloudFormationModel):
    """AWS::CloudWatch::Alarm through moto's PutMetricAlarm; Ref is the alarm's name, `Arn` its ARN."""

    CFN_TYPE = "AWS::CloudWatch::Alarm"
    CFN_NAME_PROPERTY = "AlarmName"
    CFN_ATTRIBUTES = {"Arn": lambda m: m.alarm.alarm_arn}

    def __init__(self, alarm: Any) -> None:
        self.alarm = alarm

    @property
    def physical_resource_id(self) -> str:
        return str(self.alarm.name)

    @classmethod
    def create(cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> AlarmModel:
        return cls(_put_alarm(props.get("AlarmName", resource_name), props, account_id, region_name))

    def update(self, props: dict[str, Any], account_id: str, region_name: str) -> AlarmModel:
        self.alarm = _put_alarm(self.alarm.name, props, account_id, region_name)  # PutMetricAlarm replaces it
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.alarm.name])


def _put_alarm(name: str, props: dict[str, Any], account_id: str, region_name: str) -> Any:
    _check_alarm(props)
    try:
        return cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=name,
            namespace=props.get("Namespace"),
            metric_name=props.get("MetricName"),
            comparison_operator=props.get("ComparisonOperator"),
            evaluation_periods=props.get("EvaluationPeriods"),
            period=props.get("Period"),
            threshold=props.get("Threshold"),
            statistic=props.get("Statistic"),
            description=props.get("AlarmDescription", ""),
            dimensions=props.get("Dimensions") or [],
            alarm_actions=props.get("AlarmActions") or [],
            metric_data_queries=_queries(props.get("Metrics")),
            datapoints_to_alarm=props.get("DatapointsToAlarm"),
            extended_statistic=props.get("ExtendedStatistic"),
            ok_actions=props.get("OKActions") or [],
            insufficient_data_actions=props.get("InsufficientDataActions") or [],
            unit=props.get("Unit"),
            actions_enabled=props.get("ActionsEnabled", True),
            treat_missing_data=props.get("TreatMissingData"),
            evaluate_low_sample_count_percentile=props.get("EvaluateLowSampleCountPercentile"),
            threshold_metric_id=props.get("ThresholdMetricId"),
            tags=props.get("Tags") or [],
        )
    except service_errors() as refused:
        raise service_failed("CloudWatch", refused) from None


class StageModel(UpdatableModel, CloudFormationModel):
    """AWS::ApiGateway::Stage through moto's CreateStage; Ref is the stage's name."""

    CFN_TYPE = "AWS::ApiGateway::Stage"
    CFN_NAME_PROPERTY = "StageName"
    CFN_ATTRIBUTES: dict[str, Any] = {}

    def __init__(self, api_id: str, stage: Any) -> None:
        self.api_id = api_id
        self.stage = stage

    @property
    def physical_resource_id(self) -> str:
        return str(self.stage.name)

    @classmethod
    def create(cls, props: dict[str, Any], resource_name: str, account_id: str, region_name: str) -> StageModel:
        api_id = props["RestApiId"]
        backend = apigateway_backends[account_id][region_name]
        try:
            api = backend.get_rest_api(api_id)
            deployment = props.get("DeploymentId")
            if not deployment or deployment not in api.deployments:  # CreateStage names one that exists
                raise handler_failed("ApiGateway", "BadRequestException", "Invalid deployment identifier specified")
            stage = backend.create_stage(
                api_id,
                props.get("StageName", resource_name),
                deployment,
                variables=props.get("Variables") or {},
                description=props.get("Description", ""),
                cacheClusterEnabled=props.get("CacheClusterEnabled"),
                cacheClusterSize=props.get("CacheClusterSize"),
                tags=_tags(props.get("Tags")),
                tracing_enabled=props.get("TracingEnabled"),
            )
        except service_errors() as refused:
            raise service_failed("ApiGateway", refused) from None
        return cls(api_id, stage)

    def update(self, props: dict[str, Any], account_id: str, region_name: str) -> StageModel:
        api = apigateway_backends[account_id][region_name].get_rest_api(self.api_id)
        deployment = props.get("DeploymentId")
        if not deployment or deployment not in api.deployments:
            raise handler_failed("ApiGateway", "BadRequestException", "Invalid deployment identifier specified")
        self.stage.deployment_id = deployment
        self.stage.description = props.get("Description", "")
        self.stage.variables = props.get("Variables") or {}
        self.stage.tracing_enabled = props.get("TracingEnabled")
        self.stage.tags = _tags(props.get("Tags"))
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        backend = apigateway_backends[account_id][region_name]
        with contextlib.suppress(*service_errors()):  # the API, and its stages, may have gone first
            backend.delete_stage(self.api_id, self.stage.name)


def _deployment_id(self: Deployment) -> str:
    return str(self.id)


def register() -> None:
    """Make moto's CloudFormation see the models above; `Ref` to a deployment gives its id, as on AWS."""
    cfn_models.install()
    # moto's Deployment has no physical id, so a Ref to it resolved to the object itself.
    Deployment.physical_resource_id = property(_deployment_id)  # type: ignore[attr-defined]
    refresh()
