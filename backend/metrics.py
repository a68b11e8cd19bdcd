"""Prometheus metrics at /metrics, read from the database and the ingest worker at each scrape.

Nothing is counted twice in memory: the figures are the backend's own records (ingest
counters, terminals' presence, live alarms, commands by state), so every worker answers the
same and a restart loses nothing. /metrics needs a signed-in person or an API token with
`fleet.read` (a Prometheus scrape job presents an operator's token as a bearer token); it is
never open (docs/fleet.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from . import commands as command_lifecycle
from .alarms import LIVE
from .auth.guard import require
from .auth.roles import Permission
from .models import AlarmRow, CommandRow, IngestCounter, Terminal, utcnow
from .presence import PresenceState, presence_of


class BackendCollector(Collector):
    def __init__(self, service: Any):
        self.service = service

    def collect(self) -> Iterator[Any]:
        db = self.service.db
        settings = self.service.presence.settings
        now = utcnow()
        with db.transaction() as s:
            counters = {c.name: c.value for c in s.scalars(select(IngestCounter))}
            states = Counter(presence_of(t, now, settings)[0] for t in s.scalars(select(Terminal)))
            alarms = s.execute(
                select(AlarmRow.kind, AlarmRow.severity, AlarmRow.state, func.count())
                .where(AlarmRow.state.in_(LIVE))
                .group_by(AlarmRow.kind, AlarmRow.severity, AlarmRow.state)
            ).all()
            commands = s.execute(
                select(CommandRow.type, CommandRow.status, func.count()).group_by(
                    CommandRow.type, CommandRow.status
                )
            ).all()
            by_state = command_lifecycle.counts(s)
            oldest = dict(
                s.execute(
                    select(CommandRow.status, func.min(CommandRow.created_at))
                    .where(CommandRow.status.in_(command_lifecycle.OPEN))
                    .group_by(CommandRow.status)
                ).all()
            )

        ingest = CounterMetricFamily(
            "allhours_ingest_messages", "Upstream messages by outcome", labels=["outcome"]
        )
        for outcome in ("stored", "duplicate", "rejected", "dead_lettered"):
            ingest.add_metric([outcome], counters.get(outcome, 0))
        yield ingest

        mqtt = self.service.mqtt
        health = mqtt.ingest_health() if mqtt is not None else {}
        lag = GaugeMetricFamily(
            "allhours_ingest_lag_seconds", "Age of the oldest message not yet applied"
        )
        lag.add_metric([], float(health.get("lag_s", 0.0)))
        yield lag
        queued = GaugeMetricFamily("allhours_ingest_queued", "Messages waiting for the ingest")
        queued.add_metric([], float(health.get("queued", 0)))
        yield queued

        terminals = GaugeMetricFamily(
            "allhours_terminals", "Terminals by presence state", labels=["state"]
        )
        for state in PresenceState:
            terminals.add_metric([state.value], states.get(state.value, 0))
        yield terminals

        live = GaugeMetricFamily(
            "allhours_alarms_live",
            "Alarms open or acknowledged, by kind",
            labels=["kind", "severity", "state"],
        )
        for kind, severity, state, n in alarms:
            live.add_metric([kind, severity, state], n)
        yield live

        cmds = GaugeMetricFamily(
            "allhours_commands", "Commands by type and state", labels=["type", "state"]
        )
        for type_, status, n in commands:
            cmds.add_metric([type_, status], n)
        yield cmds
        states = GaugeMetricFamily(
            "allhours_commands_by_state",
            "Commands in each lifecycle state (queued, sent, delivered, done, failed, expired)",
            labels=["state"],
        )
        for state, n in by_state.items():
            states.add_metric([state], n)
        yield states
        age = GaugeMetricFamily(
            "allhours_command_oldest_open_seconds",
            "Age of the oldest command still queued, sent or delivered (0: none)",
            labels=["state"],
        )
        for state in command_lifecycle.OPEN:
            since = oldest.get(state)
            age.add_metric([state], (now - _aware(since)).total_seconds() if since else 0.0)
        yield age


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def metrics_router(service: Any) -> APIRouter:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BackendCollector(service))
    router = APIRouter(tags=["fleet"])

    @router.get("/metrics", dependencies=[Depends(require(Permission.READ_FLEET))])
    def metrics() -> Response:
        """Prometheus text format; a bearer token with fleet.read (401/403 otherwise)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
