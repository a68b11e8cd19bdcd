"""Which filters the backend subscribes to, plain or shared."""

from __future__ import annotations

from backend.mqtt import subscription_filters
from cloud_bridge.contract import topics


def test_plain_filters_cover_every_upstream_channel_without_a_share_prefix():
    filters = subscription_filters(None)

    assert all(not f.startswith("$share/") for f in filters)
    assert "allhours/v1/terminals/+/events/#" in filters
    assert len(filters) == len(topics.UPSTREAM)


def test_shared_filters_are_the_contracts():
    assert subscription_filters("g1") == topics.backend_subscriptions("g1")
