"""How long a waiting step gives its stack's event (`$.eventWaits`): by kind, scaled like the polls,
never past the stack deadline, and one value for all when the setting says so."""

from __future__ import annotations

from chalicelib.model.settings import EVENT_WAIT_SECONDS, MIN_EVENT_WAIT_SECONDS, Settings, event_waits


def settings(poll_scale: float = 1.0, wait: int = 0) -> Settings:
    return Settings(table_name="t", create_state_machine_arn="", poll_scale=poll_scale, stack_event_wait_seconds=wait)


def test_on_aws_a_cluster_stack_gets_longer_than_the_others() -> None:
    assert event_waits(settings()) == EVENT_WAIT_SECONDS
    assert EVENT_WAIT_SECONDS["cluster"] > EVENT_WAIT_SECONDS["stack"]


def test_the_local_engine_scales_them_down_to_a_floor() -> None:
    assert event_waits(settings(poll_scale=0.001)) == dict.fromkeys(EVENT_WAIT_SECONDS, MIN_EVENT_WAIT_SECONDS)


def test_a_wait_never_outlasts_the_stack_deadline() -> None:
    assert event_waits(settings(), deadline_minutes=12) == {"cluster": 720, "stack": 600}


def test_the_setting_sets_every_wait() -> None:
    assert event_waits(settings(wait=3)) == dict.fromkeys(EVENT_WAIT_SECONDS, 3)
