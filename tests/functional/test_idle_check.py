"""The reaper's CPU check against moto's EKS and CloudWatch: node groups' Auto Scaling groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3

from chalicelib.model.settings import get_settings
from chalicelib.operations import leases

if TYPE_CHECKING:
    from chalicelib.aws.clients import Clients

REGION = "us-west-2"
NOW = datetime.now(UTC).replace(microsecond=0)


def cluster_with_nodes(name: str, nodegroups: int = 1) -> list[str]:
    """An EKS cluster with node groups; returns their Auto Scaling group names."""
    eks = boto3.client("eks", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/eks"
    eks.create_cluster(name=name, roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    groups = []
    for i in range(nodegroups):
        made = eks.create_nodegroup(clusterName=name, nodegroupName=f"ng{i}", nodeRole=role, subnets=["subnet-1"])
        groups += [g["name"] for g in made["nodegroup"]["resources"]["autoScalingGroups"]]
    return groups


def cpu(group: str, *points: tuple[timedelta, float]) -> None:
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group}],
                "Timestamp": NOW - ago,
                "Value": value,
                "Unit": "Percent",
            }
            for ago, value in points
        ],
    )


def busy(clients: Clients, name: str) -> bool:
    return leases.node_cpu_busy(clients, get_settings(), NOW)({"name": name, "region": REGION})


def test_a_node_group_above_the_threshold_keeps_the_cluster(clients: Clients) -> None:
    quiet, working = cluster_with_nodes("mixed", nodegroups=2)
    cpu(quiet, (timedelta(minutes=10), 1.0))
    cpu(working, (timedelta(minutes=20), 2.0), (timedelta(minutes=15), 40.0))

    assert busy(clients, "mixed") is True


def test_nodes_below_the_threshold_are_idle(clients: Clients) -> None:
    (group,) = cluster_with_nodes("calm")
    cpu(group, (timedelta(minutes=10), 3.0), (timedelta(minutes=40), 4.5))
    cpu(group, (timedelta(hours=3), 90.0))  # outside the window: it does not count

    assert busy(clients, "calm") is False


def test_no_node_groups_or_no_data_is_idle(clients: Clients) -> None:
    cluster_with_nodes("bare", nodegroups=0)
    cluster_with_nodes("silent")

    assert busy(clients, "bare") is False
    assert busy(clients, "silent") is False


def test_a_cluster_whose_metrics_cannot_be_read_is_kept(clients: Clients) -> None:
    # EKS knows no such cluster: the check fails, and failing must never mean deleting.
    assert busy(clients, "unknown") is True
