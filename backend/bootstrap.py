"""Builds a backend worker from its settings: the one place its parts are constructed.

backend.toml + ALLHOURS_BACKEND_* + python -m backend flags ─► BackendSettings
                                                                   │
site CA (ca_dir) ─► SiteAuthority ─► worker_identity(client id) ──┤ broker certificate,
                                                                   │ signing key, terminal keys
holidays files ─► WorkingDayCalendar ──────────────────────────────┤
                                                                   ▼
                               build_backend ─► Backend(service, enrollment server)
                                                 serve(): enrollment + REST API until a signal
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from provisioning.authority import EnrollmentRefused, SiteAuthority

from .api import serve
from .enrollment import EnrollmentServer, enrollment_server, worker_identity
from .front import Front
from .retention import RetentionSettings
from .service import BackendService
from .settings import BackendSettings, BackendSettingsError
from .workdays import CN_OFFICIAL, WorkingDayCalendar


@dataclass
class Backend:
    """A built backend worker: its service and its enrollment endpoint, neither started."""

    settings: BackendSettings
    authority: SiteAuthority
    service: BackendService
    enrollment: EnrollmentServer

    def serve(self) -> None:
        """Run the enrollment endpoint and the REST API (with ingest) until a signal."""
        self.enrollment.start()
        try:
            s = self.settings
            front = Front(s.trusted_proxies, s.secure_cookies)
            serve(self.service, s.http_host, s.http_port, front)
        finally:
            self.enrollment.stop()


def build_backend(s: BackendSettings) -> Backend:
    """The worker the settings describe; BackendSettingsError names what cannot be used."""
    calendar = CN_OFFICIAL
    for path in s.holidays:
        try:
            calendar = calendar.merged(WorkingDayCalendar.from_file(path))
        except (OSError, ValueError) as exc:
            raise BackendSettingsError(f"holidays: {path}: {exc}") from None
    try:
        authority = SiteAuthority(s.ca_dir)
    except EnrollmentRefused as exc:
        raise BackendSettingsError(f"ca_dir: {exc.message} (allhours provision init)") from None
    service = BackendService(
        database_url=s.database_url,
        blob_dir=s.blob_dir,
        broker_host=s.broker_host,
        broker_port=s.broker_port,
        extra_brokers=s.extra_broker_addresses,
        client_id=s.client_id,
        credentials=worker_identity(authority, s.client_id),
        shared_group=None if s.plain_subscriptions else s.shared_group,
        code_ttl=timedelta(days=s.code_ttl_days),
        command_ttl=timedelta(minutes=s.command_ttl_minutes),
        calendar=calendar,
        retention=RetentionSettings(days=s.retention_days),
    )
    # Terminals renew at the name they reach us by, never at a wildcard bind address.
    names = s.public_names
    enrollment = enrollment_server(
        service,
        authority,
        broker_host=(names or (s.broker_host,))[0],
        broker_port=s.broker_port,
        host=s.enroll_host,
        port=s.enroll_port,
        server_names=names,
        public_url=f"https://{names[0]}:{s.enroll_port}" if names else None,
        brokers=s.broker_addresses,
    )
    return Backend(s, authority, service, enrollment)
