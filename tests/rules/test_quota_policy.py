"""Quota policy loading: the shipped YAML loads; every bad configuration is refused with what to fix."""

from __future__ import annotations

import pytest

from rules.quota import DEFAULT_POLICY_PATH, PolicyError, QuotaPolicy


def test_shipped_policy_loads_with_the_national_quota():
    policy = QuotaPolicy.from_yaml(DEFAULT_POLICY_PATH)
    assert policy.quota == 200_000
    assert policy.timezone == "Asia/Ho_Chi_Minh"
    assert policy.with_quota(300_000).quota == 300_000


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("policy: proportional\n", "quota.yaml: national_daily_quota: missing"),
        ("national_daily_quota: -5\n", ">= 0"),
        ("national_daily_quota: lots\n", "whole number"),
        ("national_daily_quota: 10\npolicy: fairest\n",
         "policy: expected one of 'proportional' or 'backlog_power' \\(got 'fairest'\\)"),
        ("national_daily_quota: 10\nalpha: 0\n", "alpha"),
        ("national_daily_quota: 10\nqouta: 3\n", "unknown key"),
        ("national_daily_quota: [1, 2\n", "malformed YAML at line"),
        ("- 1\n- 2\n", "expected a YAML mapping"),
        ("national_daily_quota: 10\ntimezone: Mars/Base\n", "unknown timezone"),
        ("national_daily_quota: 10\nageing: {per_day: -1}\n", "ageing.per_day"),
    ],
)
def test_bad_policy_is_refused_with_a_clear_message(tmp_path, text, needle):
    path = tmp_path / "quota.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=needle) as info:
        QuotaPolicy.from_yaml(path)
    assert str(path) in str(info.value)


def test_missing_policy_file_is_refused(tmp_path):
    with pytest.raises(PolicyError, match="not found"):
        QuotaPolicy.from_yaml(tmp_path / "nope.yaml")
