"""Configuration read from the environment, once, lazily.

Every environment variable name is a constant here; infra/ and local/ set them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

ENV_TABLE_NAME = "EKSPRESS_TABLE_NAME"
ENV_CREATE_STATE_MACHINE_ARN = "EKSPRESS_CREATE_STATE_MACHINE_ARN"
ENV_POLL_SCALE = "EKSPRESS_POLL_SCALE"
ENV_ACCESS_STATE_MACHINE_ARN = "EKSPRESS_ACCESS_STATE_MACHINE_ARN"
ENV_MASTERS_ALLOWED = "EKSPRESS_MASTERS_ALLOWED"

# Each workflow in statemachine/ and the variable that carries its ARN to the code.
STATE_MACHINE_ENV = {
    "create_cluster": ENV_CREATE_STATE_MACHINE_ARN,
    "update_access": ENV_ACCESS_STATE_MACHINE_ARN,
}


@dataclass(frozen=True)
class Settings:
    table_name: str
    create_state_machine_arn: str
    # Multiplies every polling wait. 1.0 on AWS; the local engine, whose stacks
    # finish in seconds, sets a small value so demos and tests do not sleep minutes.
    poll_scale: float
    access_state_machine_arn: str = ""
    # Callers (ARN glob patterns) allowed to map principals to system:masters. Empty: nobody.
    masters_allowed: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        table_name=os.environ.get(ENV_TABLE_NAME, "ekspress-clusters"),
        create_state_machine_arn=os.environ.get(ENV_CREATE_STATE_MACHINE_ARN, ""),
        poll_scale=float(os.environ.get(ENV_POLL_SCALE, "1.0")),
        access_state_machine_arn=os.environ.get(ENV_ACCESS_STATE_MACHINE_ARN, ""),
        masters_allowed=tuple(p.strip() for p in os.environ.get(ENV_MASTERS_ALLOWED, "").split(",") if p.strip()),
    )
