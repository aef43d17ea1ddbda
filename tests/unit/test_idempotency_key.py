"""The Idempotency-Key header's rule, and that only requests carrying it pay for the utility."""

from __future__ import annotations

import subprocess
import sys

import pytest

from chalicelib.aws import idempotency
from chalicelib.model.errors import SpecValidationError


@pytest.mark.parametrize("key", ["", "has space", "x" * 129, "semi;colon", "ünï"])
def test_a_malformed_key_is_refused_naming_the_header(key: str) -> None:
    with pytest.raises(SpecValidationError) as refused:
        idempotency.check_key(key)
    assert refused.value.details["fields"][0] == {
        "field": idempotency.HEADER,
        "rule": "idempotency_key_format",
        "message": f"must be {idempotency.KEY_RULE}",
    }


@pytest.mark.parametrize("key", ["550e8400-e29b-41d4-a716-446655440000", "01HZY3", "a" * 128, "b64+/x=="])
def test_ordinary_keys_are_accepted(key: str) -> None:
    assert idempotency.check_key(key) == key


def test_importing_the_app_does_not_import_the_idempotency_utility() -> None:
    code = (
        "import sys, app; print(any(m.startswith('aws_lambda_powertools.utilities.idempotency') for m in sys.modules))"
    )

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout

    assert out.strip() == "False"
