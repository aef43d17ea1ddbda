"""Structured logging (Powertools). Keys: cluster, clusterId, execution; never tokens."""

from __future__ import annotations

from aws_lambda_powertools import Logger

SERVICE = "ekspress"

logger = Logger(service=SERVICE)
