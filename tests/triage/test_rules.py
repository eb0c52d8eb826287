"""Parsing the [triage] table: clear errors for mistakes, SLA targets as configured."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from triage import RulesError, TriageRules


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"rules": [{"match": "x", "regex": "y", "tag": "t"}]}, "exactly one"),
        ({"rules": [{"regex": "(", "tag": "t"}]}, "triage.rules[0].regex"),
        ({"rules": [{"match": "refund", "queue": "billing"}]}, "not one of"),
        ({"rules": [{"match": "refund"}]}, "needs a queue"),
        ({"colour": "red"}, "unknown key"),
        ({"priority": {"P1": 2, "P2": 5}}, "P1 >= P2"),
        ({"sla": {"P1": -5}}, "positive"),
        ({"vip_handles": "bob"}, "expected a list"),
    ],
)
def test_mistakes_are_reported_with_their_key(table, fragment):
    with pytest.raises(RulesError, match=re.escape(fragment)):
        TriageRules.from_dict(table)


def test_sla_targets_per_priority_channel_and_queue():
    rules = TriageRules.from_dict({"sla": {"P1": 90, "channels": {"x": {"P1": 15}}}})
    assert rules.sla.target("P1", "support", "telegram") == timedelta(minutes=90)
    assert rules.sla.target("P1", "support", "x") == timedelta(minutes=15)
    assert rules.sla.target("P2", "support", "x") == timedelta(minutes=240)
    assert rules.sla.target("P1", "marketing", "x") is None
    assert rules.sla.target("P1", "other", "x") is None
    with_marketing = TriageRules.from_dict({"sla": {"marketing": 600}})
    assert with_marketing.sla.target("P3", "marketing", None) == timedelta(minutes=600)


def test_priority_thresholds_are_configurable():
    rules = TriageRules.from_dict({"priority": {"P1": 10, "P2": 5, "P3": 1}})
    assert [rules.priority_for(s) for s in (0, 1, 5, 9, 10)] == ["P4", "P3", "P2", "P2", "P1"]


def test_vip_handles_ignore_case_and_at_sign():
    rules = TriageRules.from_dict({"vip_handles": ["@Ada"]})
    assert rules.is_vip("ada") and rules.is_vip("@ADA") and not rules.is_vip("bob") and not rules.is_vip(None)
