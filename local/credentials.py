"""Who an access key belongs to in the local engine: its secret, session token and caller ARN.

The local engine runs moto in this process, so the credentials its IAM and STS issued are at hand:
IAM users' access keys (`iam create-access-key`), temporary credentials from `sts assume-role`
(and its web-identity and SAML variants), and the engine's own fixed key. `lookup` answers what
STS GetCallerIdentity would for a key, plus the secret a SigV4 signature must have been made with.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Credential:
    """An access key the engine knows: the secret it signs with and the ARN STS names its caller by."""

    access_key_id: str
    secret: str
    arn: str  # as GetCallerIdentity answers: arn:aws:iam::ACCOUNT:user/NAME, arn:aws:sts::ACCOUNT:assumed-role/R/S
    session_token: str | None = None  # temporary (STS) credentials only; requests must carry it
    # A fixed key the engine (or a test) configured rather than one IAM or STS issued: like moto's STS,
    # the emulator then checks no session token (shells and test set-ups often carry a made-up one).
    fixed: bool = False


def _existing(backends: Any) -> list[Any]:
    """The per-account, per-partition back ends moto has already made (looking creates none)."""
    return [backend for account in list(dict.values(backends)) for backend in list(dict.values(account))]


def _assumed_role(access_key_id: str, now: dt.datetime) -> Credential | None:
    from moto.sts.models import sts_backends

    for backend in _existing(sts_backends):
        for role in list(backend.assumed_roles):
            if role.access_key_id != access_key_id:
                continue
            expiration = role.expiration
            if expiration.tzinfo is None:  # moto keeps naive UTC times
                expiration = expiration.replace(tzinfo=dt.UTC)
            if expiration <= now:
                return None
            return Credential(access_key_id, role.secret_access_key, role.arn, role.session_token)
    return None


def _iam_user(access_key_id: str) -> Credential | None:
    from moto.iam.models import iam_backends

    for backend in _existing(iam_backends):
        for user in list(backend.users.values()):
            for key in list(user.access_keys):
                if key.access_key_id == access_key_id:
                    if key.status != "Active":
                        return None
                    return Credential(access_key_id, key.secret_access_key, user.arn)
    return None


def lookup(access_key_id: str, now: dt.datetime | None = None) -> Credential | None:
    """The credential behind an access key id, or None if the engine never issued it (or it is inactive
    or expired). The engine's own key answers as moto's STS does for it: the local developer, CREATOR_ARN."""
    from local.engine import ACCESS_KEY, CREATOR_ARN, SECRET_KEY

    if not access_key_id:
        return None
    if access_key_id == ACCESS_KEY:
        return Credential(ACCESS_KEY, SECRET_KEY, CREATOR_ARN, fixed=True)
    return _assumed_role(access_key_id, now or dt.datetime.now(dt.UTC)) or _iam_user(access_key_id)
