"""The on-duty operator's texts: the first alarm at once, a burst of them together in the next.

A broker down for longer than the offline grace takes every terminal it serves offline at once.
Texted one by one, the on-duty phone got a message per terminal until the provider's 50 a day
ran out, and the rest a day late.
"""

from __future__ import annotations

from datetime import timedelta

from backend.alarms import Alarms, AlarmSettings, alarm_trail
from cloud_bridge.contract import messages as m

ON_DUTY = "13700137000"
WORDING = "【自助服务】自助终端{}告警：{}，请登录运维控制台确认处理。"
FLEET = [f"T{n:04d}" for n in range(1, 13)]


def _raise(notified, alarms: Alarms, terminal: str, kind=m.AlarmKind.OFFLINE) -> str:
    with notified.db.transaction() as s:
        row, action = alarms.raise_alarm(
            s, terminal, kind, m.Severity.WARNING, "silent", notified.clock(), actor="backend"
        )
        assert action == "raised"
        return row.operation_id


def _texts(notified) -> list[str]:
    return [sms.text for sms in notified.emulator.inbox(ON_DUTY)]


def test_a_fleet_going_offline_is_two_texts_and_a_later_alarm_goes_at_once(notified):
    for terminal in FLEET[1:]:
        notified.ingest.register_terminal(terminal, b"k" * 32)
    alarms = Alarms(AlarmSettings(on_duty_phone=ON_DUTY, texted_every=timedelta(minutes=10)))

    _raise(notified, alarms, FLEET[0])
    notified.drain()
    assert _texts(notified) == [WORDING.format("T0001", "离线")]

    notified.clock.advance(timedelta(seconds=30))
    merged = [_raise(notified, alarms, terminal) for terminal in FLEET[1:]]
    _raise(notified, alarms, "T0003", m.AlarmKind.LOCK_FAULT)
    notified.clock.advance(timedelta(minutes=9))
    notified.drain()
    assert len(_texts(notified)) == 1  # held until ten minutes after the first

    notified.clock.advance(timedelta(seconds=31))
    notified.drain()
    assert _texts(notified)[1:] == [WORDING.format("T0002等11台", "离线等2类")]
    with notified.db.transaction() as s:
        trail = alarm_trail(s, "T0012", merged[-1])
    assert [(e["action"], e["note"]) for e in trail][-1] == (
        "notified",
        "in the on-duty operator's next text",
    )

    notified.clock.advance(timedelta(minutes=30))
    _raise(notified, alarms, "T0005", m.AlarmKind.DOOR_FORCED)
    notified.drain()
    assert _texts(notified)[2:] == [WORDING.format("T0005", "柜门被强行打开")]


def test_alarms_while_the_provider_is_down_go_in_one_text_when_it_is_back(notified):
    for terminal in FLEET[1:4]:
        notified.ingest.register_terminal(terminal, b"k" * 32)
    alarms = Alarms(AlarmSettings(on_duty_phone=ON_DUTY))
    notified.emulator.down = True

    for terminal in FLEET[:4]:
        _raise(notified, alarms, terminal)
        notified.drain()
        notified.clock.advance(timedelta(minutes=3))

    notified.emulator.down = False
    notified.clock.advance(timedelta(minutes=10))
    notified.drain()
    assert _texts(notified) == [WORDING.format("T0001等4台", "离线")]
