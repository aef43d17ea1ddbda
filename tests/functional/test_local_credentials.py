"""local.credentials: the secret and caller ARN behind the access keys the engine's IAM and STS issued."""

from __future__ import annotations

import datetime as dt
import json

import boto3

from local.credentials import Credential, lookup
from local.engine import ACCESS_KEY, ACCOUNT_ID, CREATOR_ARN, SECRET_KEY

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def test_an_iam_users_access_key_answers_with_its_secret_and_user_arn(aws: None) -> None:
    iam = boto3.client("iam", region_name="us-west-2")
    iam.create_user(UserName="alice")
    key = iam.create_access_key(UserName="alice")["AccessKey"]
    found = lookup(key["AccessKeyId"])
    assert found == Credential(key["AccessKeyId"], key["SecretAccessKey"], f"arn:aws:iam::{ACCOUNT_ID}:user/alice")
    assert found.session_token is None
    sts = boto3.client(
        "sts",
        region_name="us-west-2",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    assert sts.get_caller_identity()["Arn"] == found.arn


def test_an_inactive_or_deleted_key_is_unknown(aws: None) -> None:
    iam = boto3.client("iam", region_name="us-west-2")
    iam.create_user(UserName="bob")
    key = iam.create_access_key(UserName="bob")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="bob", AccessKeyId=key, Status="Inactive")
    assert lookup(key) is None
    iam.update_access_key(UserName="bob", AccessKeyId=key, Status="Active")
    assert lookup(key) is not None
    iam.delete_access_key(UserName="bob", AccessKeyId=key)
    assert lookup(key) is None


def test_assumed_role_credentials_carry_their_session_token_and_session_arn(aws: None) -> None:
    iam = boto3.client("iam", region_name="us-west-2")
    iam.create_role(RoleName="dev", AssumeRolePolicyDocument=TRUST)
    sts = boto3.client("sts", region_name="us-west-2")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/dev", RoleSessionName="carol")["Credentials"]
    found = lookup(creds["AccessKeyId"])
    assert found == Credential(
        creds["AccessKeyId"],
        creds["SecretAccessKey"],
        f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/dev/carol",
        creds["SessionToken"],
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    assert lookup(creds["AccessKeyId"], now=later) is None  # expired


def test_the_engines_own_key_is_the_local_developer() -> None:
    assert lookup(ACCESS_KEY) == Credential(ACCESS_KEY, SECRET_KEY, CREATOR_ARN, fixed=True)


def test_unknown_keys_are_none(aws: None) -> None:
    assert lookup("AKIAUNKNOWN000000000") is None
    assert lookup("") is None
