"""The backend process: its notification worker wakes on commit and sends, and stops cleanly."""

from __future__ import annotations

from notification_parts import PHONE, TERMINAL, TERMINAL_KEY

from backend.notifications.aliyun_emulator import AliyunSmsEmulator, emulated_aliyun
from backend.notifications.models import NotificationRow
from backend.service import BackendService
from cloud_bridge.contract import messages as m
from cloud_bridge.contract.schema import examples
from cloud_bridge.link import wait_until


def test_a_committed_submission_reaches_the_provider_without_waiting_for_a_poll(tmp_path):
    with AliyunSmsEmulator() as emulator:
        service = BackendService(
            f"sqlite:///{tmp_path / 'b.db'}",
            tmp_path / "blobs",
            broker_port=None,
            sms_provider=emulated_aliyun(emulator),
            notification_key=bytes(range(32)),
        )
        service.register_terminal(TERMINAL, TERMINAL_KEY)
        service.start()
        try:
            event = examples()["event.application_submitted"].model_copy(
                update={"message_id": m.new_message_id()}
            )
            service.ingest.handle_batch([(event.topic(), event.encode())])

            assert wait_until(lambda: emulator.inbox(PHONE), 5, 0.01)
            assert service.notifications.holds_lease
        finally:
            service.stop()
        assert "已提交" in emulator.inbox(PHONE)[0].text


def test_without_a_provider_messages_wait_in_the_outbox(tmp_path, caplog):
    service = BackendService(f"sqlite:///{tmp_path / 'b.db'}", tmp_path / "blobs", broker_port=None)
    service.register_terminal(TERMINAL, TERMINAL_KEY)
    service.start()
    try:
        event = examples()["event.application_submitted"]
        service.ingest.handle_batch([(event.topic(), event.encode())])
    finally:
        service.stop()
    assert any("no SMS provider configured" in r.getMessage() for r in caplog.records)
    with service.db.transaction() as s:
        (row,) = s.query(NotificationRow).all()
    service.db.dispose()
    assert row.state == "queued"
