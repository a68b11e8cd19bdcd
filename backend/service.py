"""Composition of the backend: database, blobs, ingest, MQTT link, staff desk, notifications."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from cloud_bridge.contract import messages as m
from cloud_bridge.contract import topics

from . import dead_letters
from .alarms import Alarms, AlarmSettings
from .blobs import BlobLimits, BlobStore
from .db import Database
from .escalations import Escalations
from .ingest import Ingest
from .models import utcnow
from .mqtt import BackendMqtt, BrokerLinks, MqttSettings
from .notifications.config import provider_from_env
from .notifications.dispatcher import Dispatcher, DispatchSettings
from .notifications.reminders import Reminders
from .notifications.sealing import load_or_create_key
from .notifications.service import NotificationWorker, WorkerSettings
from .presence import Presence, PresenceMonitor, PresenceSettings
from .retention import Retention, RetentionJob, RetentionSettings
from .reuse import MaterialsOnFile, ReuseSettings, load_or_create_applicant_key
from .rollouts import RolloutMonitor, Rollouts
from .sms import SmsProvider
from .staff import StaffDesk
from .wire_signing import WireSigning, WorkerCredentials
from .workdays import CN_OFFICIAL, WorkingDayCalendar
from .workflow import WorkflowSettings

log = logging.getLogger(__name__)


class BackendService:
    """The whole backend process minus HTTP; `start()` connects, `stop()` leaves nothing behind."""

    def __init__(
        self,
        database_url: str,
        blob_dir: str | Path,
        broker_host: str = "127.0.0.1",
        broker_port: int | None = 1883,
        client_id: str = "backend.1",
        credentials: WorkerCredentials | None = None,
        code_ttl: timedelta = timedelta(days=7),
        command_ttl: timedelta = timedelta(hours=1),
        session_expiry: timedelta = timedelta(days=7),
        sms_provider: SmsProvider | None = None,
        notification_key: bytes | None = None,
        dispatch: DispatchSettings | None = None,
        worker: WorkerSettings | None = None,
        shared_group: str | None = topics.SHARED_GROUP,
        applicant_key: bytes | None = None,
        calendar: WorkingDayCalendar = CN_OFFICIAL,
        clock: Callable[[], datetime] = utcnow,
        presence: PresenceSettings | None = None,
        alarms: AlarmSettings | None = None,
        retention: RetentionSettings | None = None,
        extra_brokers: Sequence[tuple[str, int]] = (),
        blob_limits: BlobLimits | None = None,
    ):
        if code_ttl <= timedelta(0) or command_ttl <= timedelta(0):
            raise ValueError("code_ttl and command_ttl must be positive")
        self.db = Database(database_url)
        # Empty, the first release's or an earlier one's: brought to the newest revision.
        self.db.migrate()
        if logged := self.db.parameters_logged():
            log.warning(
                "PostgreSQL writes statements' parameters (applicants' names, ID numbers, "
                "phones) into its log under %s: have a superuser run ALTER ROLE … SET "
                "log_parameter_max_length = 0 for this role (docs/backend.md)",
                ", ".join(logged),
            )
        self.blobs = BlobStore(Path(blob_dir))
        # Pickup codes waiting in the outbox are sealed with this key; kept outside the
        # database in production (ALLHOURS_NOTIFICATION_KEY_FILE) so a dump alone opens none.
        key_file = os.environ.get("ALLHOURS_NOTIFICATION_KEY_FILE")
        if notification_key is None and key_file:
            notification_key = load_or_create_key(Path(key_file))
        self.sms_provider = sms_provider if sms_provider is not None else provider_from_env()
        dispatcher = None
        if self.sms_provider is not None:
            dispatcher = Dispatcher(self.db, self.sms_provider, notification_key, dispatch)
        self.notifications = NotificationWorker(
            self.db, dispatcher, None, clock, worker, worker_id=client_id
        )
        self.sms = self.notifications
        self.settings = WorkflowSettings(
            code_ttl=code_ttl,
            command_ttl=command_ttl,
            notification_key=notification_key,
            calendar=calendar,
        )
        # The fleet's applicant key (ADR 0003): given, or made once and kept in the database.
        self.applicant_key = applicant_key or load_or_create_applicant_key(self.db)
        self.calendar = calendar
        self.reuse = MaterialsOnFile(ReuseSettings(self.applicant_key, calendar), clock)
        # The on-duty operator's phone for new alarms (docs/fleet.md).
        self.alarms = Alarms(
            alarms or AlarmSettings(on_duty_phone=os.environ.get("ALLHOURS_ON_DUTY_PHONE"))
        )
        self.presence = Presence(self.alarms, presence, clock)
        self.presence_monitor = PresenceMonitor(self.db, self.presence, client_id)
        self.ingest = Ingest(
            self.db,
            self.blobs,
            self.sms,
            self,
            self.settings,
            reuse=self.reuse,
            alarms=self.alarms,
            presence=self.presence,
            blob_limits=blob_limits,
        )
        self.desk = StaffDesk(self.db, self, self.sms, self.settings)
        self.notifications.reminders = Reminders(
            self.db,
            calendar,
            lambda no, note: self.desk.withdraw(no, "scheduler", note),
            notification_key,
        )
        self.escalations = Escalations(self.db, calendar)
        # PIPL: closed cases lose personal data and scans after retention.days (one worker).
        self.retention = RetentionJob(
            Retention(self.db, self.blobs, retention, worker_id=client_id, clock=clock), clock
        )
        self.notifications.escalations = self.escalations.run
        # Staged rollouts (software, configuration bundles), advanced from the database.
        self.rollouts = Rollouts(
            self.db, self, clock, backend_keys=credentials.trusted_keys if credentials else tuple
        )
        self.rollout_monitor = RolloutMonitor(self.rollouts)
        # One link per broker (a province: one per region), all feeding this worker's ingest.
        self.mqtt: BrokerLinks | None = None
        if broker_port is not None:
            signing = (
                WireSigning(self.db, credentials.signer, credentials.terminal_keys)
                if credentials
                else None
            )
            links = [
                BackendMqtt(
                    self.ingest,
                    MqttSettings(
                        host=host,
                        port=port,
                        client_id=client_id,
                        tls=credentials.tls if credentials else None,
                        shared_group=shared_group,
                        session_expiry_s=int(session_expiry.total_seconds()),
                    ),
                    signing,
                )
                for host, port in [(broker_host, broker_port), *extra_brokers]
            ]
            self.mqtt = BrokerLinks(links)

    def start(self) -> BackendService:
        """Connect to the broker, start ingesting and notifying (returns at once)."""
        if self.mqtt:
            self.mqtt.start()
        self.notifications.start()
        self.presence_monitor.start()
        self.retention.start()
        self.rollout_monitor.start()
        return self

    def stop(self) -> None:
        """Stop ingest, the MQTT link and notifications, then close database connections."""
        self.presence_monitor.stop()
        self.retention.stop()
        self.rollout_monitor.stop()
        if self.mqtt:
            self.mqtt.stop()
        self.notifications.stop()
        close = getattr(self.sms_provider, "close", None)
        if close:
            close()
        self.db.dispose()

    def publish(self, message: m.Message) -> None:
        """CommandPublisher: hand the command to MQTT; without a broker it stays pending."""
        if self.mqtt:
            self.mqtt.publish(message)

    def register_terminal(self, terminal_id: str, pickup_code_key: bytes) -> None:
        """Let a terminal be heard, with the key its pickup-code digests are made with."""
        self.ingest.register_terminal(terminal_id, pickup_code_key)

    def health(self) -> dict[str, Any]:
        """Liveness for /healthz: the database answers, the MQTT link state, ingest lag."""
        with self.db.reading() as session:  # a monitor's polls never wait for ingest
            session.execute(text("SELECT 1"))
            waiting = dead_letters.pending_count(session)
        if self.mqtt is None:
            mqtt_state, ingest = "disabled", {}
        else:
            mqtt_state = "connected" if self.mqtt.ready else "disconnected"
            ingest = self.mqtt.ingest_health()
        status = "stalled" if ingest.get("stalled") else "ok"
        ingest["dead_letters_waiting"] = waiting
        return {"status": status, "database": "ok", "mqtt": mqtt_state, "ingest": ingest}
