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


@dataclass(frozen=True)
class Settings:
    table_name: str
    create_state_machine_arn: str
    # Multiplies every polling wait. 1.0 on AWS; the local engine, whose stacks
    # finish in seconds, sets a small value so demos and tests do not sleep minutes.
    poll_scale: float


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings(
        table_name=os.environ.get(ENV_TABLE_NAME, "ekspress-clusters"),
        create_state_machine_arn=os.environ.get(ENV_CREATE_STATE_MACHINE_ARN, ""),
        poll_scale=float(os.environ.get(ENV_POLL_SCALE, "1.0")),
    )
