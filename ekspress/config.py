"""Where the command line finds the API: flags, environment, a profile in a small TOML file.

`--endpoint` beats `EKSPRESS_URL`, which beats the profile's `endpoint`, which beats the local
engine (`http://localhost:$EKSPRESS_PORT`, port 8000 by default). The file is
`$EKSPRESS_CONFIG`, else `$XDG_CONFIG_HOME/ekspress/config.toml` (`~/.config/ekspress/config.toml`):

    [default]
    endpoint = "http://localhost:8000"

    [prod]
    endpoint = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
    aws_profile = "platform"   # whose credentials sign (else botocore's usual chain)
    region = "eu-west-1"       # the signing region, when the endpoint's host does not say it
    sign = true                # sign requests (default: sign unless the endpoint is this machine)

A profile is chosen with `--profile` or `EKSPRESS_PROFILE`, else `default`.
"""

from __future__ import annotations

import os
import tomllib
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_PORT = "8000"
KEYS = {"endpoint", "aws_profile", "region", "sign", "timeout"}


class ConfigError(Exception):
    """The config file or the profile asked for is unusable."""


@dataclass(frozen=True)
class Settings:
    endpoint: str
    region: str | None = None
    aws_profile: str | None = None
    sign: bool | None = None
    timeout: float = 30.0


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("EKSPRESS_CONFIG"):
        return Path(env["EKSPRESS_CONFIG"])
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "ekspress" / "config.toml"


def load_profile(name: str | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The profile's keys; an unknown key, a bad file or a named profile that is missing is a ConfigError."""
    env = os.environ if environ is None else environ
    wanted = name or env.get("EKSPRESS_PROFILE") or None
    path = config_path(env)
    if not path.exists():
        if wanted and wanted != "default":
            raise ConfigError(f"profile {wanted!r} asked for, but there is no config file {path}")
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    profile = data.get(wanted or "default")
    if profile is None:
        if wanted and wanted != "default":
            raise ConfigError(f"{path} has no [{wanted}] profile; it has: {', '.join(sorted(data)) or 'none'}")
        return {}
    if not isinstance(profile, dict):
        raise ConfigError(f"{path}: [{wanted or 'default'}] must be a table")
    unknown = set(profile) - KEYS
    if unknown:
        raise ConfigError(f"{path} [{wanted or 'default'}]: unknown keys {sorted(unknown)}; known: {sorted(KEYS)}")
    return profile


def resolve(
    endpoint: str | None,
    profile: str | None,
    region: str | None,
    sign: bool | None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    env = os.environ if environ is None else environ
    found = load_profile(profile, env)
    url = endpoint or env.get("EKSPRESS_URL") or found.get("endpoint")
    if not url:
        url = f"http://localhost:{env.get('EKSPRESS_PORT') or DEFAULT_PORT}"
    chosen_sign = sign if sign is not None else found.get("sign")
    if chosen_sign is None and is_local(url):
        chosen_sign = False  # the local engine names unsigned requests the local developer
    return Settings(
        endpoint=url,
        region=region or found.get("region"),
        aws_profile=found.get("aws_profile"),
        sign=chosen_sign,
        timeout=float(found.get("timeout", 30.0)),
    )


def is_local(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in {"localhost", "127.0.0.1", "::1"}
