"""The failover drill: a real local rehearsal, with a short interval, the polling method's clock
running SPEED times the wall's (its AWS calls then take SPEED times longer by that clock)."""

from __future__ import annotations

import pytest

from ops import drill

SPEED = 5


def test_drill_measures_both_methods_and_ends_on_the_new_primary() -> None:
    result = drill.run_drill("dev", interval_override=1, speed=SPEED)
    assert result.problems == [] and result.ok
    assert result.api_seconds is not None and 0 < result.api_seconds < drill.SWITCH_BOUND_SECONDS
    # Two failed checks of the old primary, one interval apart, come first.
    assert result.polling_seconds is not None
    assert (
        (result.unhealthy_threshold - 1) * 1
        <= result.polling_seconds
        <= 1 * (result.unhealthy_threshold + result.healthy_threshold + 4)
    )
    assert result.modelled_api_seconds == result.qos_timeout_seconds + result.api_seconds
    assert result.modelled_polling_seconds == max(
        result.qos_timeout_seconds + 1 * result.healthy_threshold, 1 * result.unhealthy_threshold
    ) + (result.api_seconds)
    dns = result.modelled_dns_seconds
    assert dns is not None
    settings = drill._settings("dev")
    assert settings.dr is not None
    d = settings.dr.dns
    assert dns == d.health_check_period_seconds + d.ttl_seconds <= 90  # issue 14: within 90 s of the decision
    text = drill.report(result)
    assert "measured, API method" in text and "ok: every listener ended on the new primary" in text
    assert f"polling clock {SPEED}x the wall's" in text  # a sped-up run says so
    assert f"modelled DR DNS after the decision (promote-dr flips the DNS gates): {dns:7.3f} s" in text


def test_drill_fails_when_the_backup_never_takes_over() -> None:
    result = drill.run_drill("dev", interval_override=1, backup_takes_over=False, speed=SPEED)
    assert not result.ok
    assert any("API method: the function refused" in p for p in result.problems), result.problems
    assert "FAILED" in drill.report(result)


def test_the_drills_clock_never_runs_slower_than_the_wall() -> None:
    with pytest.raises(ValueError, match=r"speed 0\.5"):
        drill.run_drill("dev", speed=0.5)
