"""Topic names: builders, parsing, refusals and the backend's shared subscriptions."""

from __future__ import annotations

import pytest

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import schema, topics

T = "T0001"
BUILDERS = {
    topics.STATUS: topics.status,
    topics.TELEMETRY: topics.telemetry,
    topics.BLOBS: topics.blobs,
    topics.ACKS: topics.acks,
    topics.COMMANDS: topics.commands,
    topics.RECEIPTS: topics.receipts,
    topics.REQUESTS: topics.requests,
    topics.RESPONSES: topics.responses,
}
BAD_TERMINAL_IDS = ["", "-T1", "_T1", "T/1", "T+1", "T#", "T 1", "T.1", "终端1", "T" * 65]


def _matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic-filter matching (+ one level, # the rest)."""
    f, t = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)


def _unshare(topic_filter: str) -> tuple[str, str]:
    share, group, rest = topic_filter.split("/", 2)
    assert share == "$share"
    return group, rest


def test_every_channel_has_a_builder_rooted_at_allhours_v1():
    assert set(BUILDERS) | {topics.EVENTS} == set(topics.UPSTREAM + topics.DOWNSTREAM)
    for channel, build in BUILDERS.items():
        assert build(T) == f"allhours/v1/terminals/{T}/{channel}"
    assert topics.event(T, "alarm") == f"allhours/v1/terminals/{T}/events/alarm"


@pytest.mark.parametrize("terminal_id", [T, "a", "kiosk-bj_07", "X" * 64])
def test_builders_and_parse_round_trip(terminal_id):
    for channel, build in BUILDERS.items():
        assert topics.parse(build(terminal_id)) == topics.ParsedTopic(terminal_id, channel, None)
    parsed = topics.parse(topics.event(terminal_id, "result_loaded"))
    assert parsed == topics.ParsedTopic(terminal_id, topics.EVENTS, "result_loaded")


@pytest.mark.parametrize("name", sorted(schema.examples()))
def test_every_message_topic_parses_back_to_its_terminal_and_channel(name):
    message = schema.examples()[name]
    parsed = topics.parse(message.topic())
    assert parsed.terminal_id == message.terminal_id
    assert parsed.channel == type(message).channel
    assert message.topic() == schema.topic_template(type(message)).format(terminal_id=T)


@pytest.mark.parametrize("terminal_id", BAD_TERMINAL_IDS)
def test_bad_terminal_ids_are_refused_by_builders_and_parse(terminal_id):
    with pytest.raises(topics.TopicError):
        topics.check_terminal_id(terminal_id)
    for build in BUILDERS.values():
        with pytest.raises(topics.TopicError):
            build(terminal_id)
    with pytest.raises(topics.TopicError):
        topics.event(terminal_id, "alarm")
    with pytest.raises(topics.TopicError):
        topics.parse(f"allhours/v1/terminals/{terminal_id}/status")


def test_a_terminal_id_with_a_trailing_newline_is_refused():
    with pytest.raises(topics.TopicError):
        topics.check_terminal_id("T0001\n")


@pytest.mark.parametrize(
    "topic",
    [
        "allhours/v2/terminals/T0001/status",
        "allhours/terminals/T0001/status",
        "other/v1/terminals/T0001/status",
        "/allhours/v1/terminals/T0001/status",
        "allhours/v1/terminal/T0001/status",
        "allhours/v1/terminals/T0001",
        "allhours/v1",
        "",
    ],
)
def test_a_topic_outside_the_v1_root_is_refused(topic):
    with pytest.raises(topics.TopicError):
        topics.parse(topic)


@pytest.mark.parametrize("channel", ["secrets", "command", "Status", "events#", ""])
def test_an_unknown_channel_is_refused(channel):
    with pytest.raises(topics.TopicError):
        topics.parse(f"allhours/v1/terminals/{T}/{channel}")
    with pytest.raises(topics.TopicError):
        topics.terminal_topic(T, channel)


@pytest.mark.parametrize(
    "topic",
    [
        f"allhours/v1/terminals/{T}/status/extra",
        f"allhours/v1/terminals/{T}/commands/",
        f"allhours/v1/terminals/{T}/receipts/x/y",
        f"allhours/v1/terminals/{T}/events",
        f"allhours/v1/terminals/{T}/events/",
        f"allhours/v1/terminals/{T}/events/alarm/extra",
    ],
)
def test_missing_or_extra_segments_are_refused(topic):
    with pytest.raises(topics.TopicError):
        topics.parse(topic)


def test_backend_subscriptions_are_shared_in_the_backend_group():
    subs = topics.backend_subscriptions()
    assert subs
    assert {_unshare(s)[0] for s in subs} == {topics.SHARED_GROUP} == {"allhours-backend"}
    assert {_unshare(s)[0] for s in topics.backend_subscriptions("blue")} == {"blue"}


@pytest.mark.parametrize("cls", [c for c in m.ALL_TYPES if c.channel in topics.UPSTREAM])
def test_backend_subscriptions_cover_every_upstream_channel(cls):
    topic = schema.topic_template(cls).format(terminal_id=T)
    filters = [_unshare(s)[1] for s in topics.backend_subscriptions()]
    assert [f for f in filters if _matches(f, topic)], f"nothing in the backend receives {topic}"


@pytest.mark.parametrize("cls", [c for c in m.ALL_TYPES if c.channel in topics.DOWNSTREAM])
def test_backend_subscriptions_do_not_receive_the_backends_own_downstream_messages(cls):
    topic = schema.topic_template(cls).format(terminal_id=T)
    filters = [_unshare(s)[1] for s in topics.backend_subscriptions()]
    assert not [f for f in filters if _matches(f, topic)]


def test_every_message_type_is_upstream_or_downstream_and_only_events_have_a_suffix():
    for cls in m.ALL_TYPES:
        assert cls.channel in topics.UPSTREAM + topics.DOWNSTREAM
        parsed = topics.parse(schema.topic_template(cls).format(terminal_id=T))
        assert (parsed.suffix is not None) == (cls.channel == topics.EVENTS)
