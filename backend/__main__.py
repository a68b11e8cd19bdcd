"""`python -m backend`: run the backend standalone (MQTT ingest plus the REST API)."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from datetime import timedelta
from pathlib import Path

from cloud_bridge.contract import topics
from provisioning.authority import SiteAuthority

from .api import serve
from .enrollment import enrollment_server, worker_identity
from .service import BackendService
from .workdays import CN_OFFICIAL, WorkingDayCalendar


def worker_id(text: str) -> str:
    """A worker's name: 1-32 of a-z, 0-9 and '-' (it becomes a client id and a CN)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", text):
        raise argparse.ArgumentTypeError(
            f"worker id {text[:40]!r}: 1-32 of a-z, 0-9 and '-', starting with a letter or digit"
        )
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    p.add_argument("--database-url", default="sqlite:///var/backend/backend.db")
    p.add_argument("--blob-dir", default="var/backend/blobs")
    p.add_argument("--broker-host", default="127.0.0.1")
    p.add_argument("--broker-port", type=int, default=1883)
    p.add_argument(
        "--ca-dir",
        type=Path,
        required=True,
        help="the site CA and registry (allhours provision init); the worker's broker "
        "certificate is issued from it on first start",
    )
    p.add_argument(
        "--worker-id",
        type=worker_id,
        default="1",
        help="this worker's name, distinct per worker: MQTT client id and certificate CN "
        "backend.<name>; workers share ingest through the shared group and run each "
        "scheduled job once per cluster",
    )
    p.add_argument("--enroll-host", default="127.0.0.1", help="HTTPS enrollment endpoint")
    p.add_argument("--enroll-port", type=int, default=8443)
    p.add_argument(
        "--public-name",
        action="append",
        default=[],
        help="a host name or address terminals use for broker and enrollment (repeatable)",
    )
    p.add_argument(
        "--shared-group",
        default=topics.SHARED_GROUP,
        help="MQTT 5 shared-subscription group; more workers with other client ids share ingest",
    )
    p.add_argument(
        "--plain-subscriptions",
        action="store_true",
        help="plain filters instead (one worker; no gap after a Mosquitto 2.0 restart)",
    )
    p.add_argument("--http-host", default="127.0.0.1")
    p.add_argument("--http-port", type=int, default=8080)
    p.add_argument("--code-ttl-days", type=float, default=7.0)
    p.add_argument("--command-ttl-minutes", type=float, default=60.0)
    p.add_argument(
        "--holidays",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a year's official holidays as JSON (see backend/workdays.py); repeatable",
    )
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    calendar = CN_OFFICIAL
    for path in args.holidays:
        calendar = calendar.merged(WorkingDayCalendar.from_file(path))
    authority = SiteAuthority(args.ca_dir)
    client_id = f"backend.{args.worker_id}"
    service = BackendService(
        database_url=args.database_url,
        blob_dir=args.blob_dir,
        broker_host=args.broker_host,
        broker_port=args.broker_port,
        client_id=client_id,
        credentials=worker_identity(authority, client_id),
        shared_group=None if args.plain_subscriptions else args.shared_group,
        code_ttl=timedelta(days=args.code_ttl_days),
        command_ttl=timedelta(minutes=args.command_ttl_minutes),
        calendar=calendar,
    )
    # Terminals renew at the name they reach us by, never at a wildcard bind address.
    public_url = f"https://{args.public_name[0]}:{args.enroll_port}" if args.public_name else None
    enrollment = enrollment_server(
        service,
        authority,
        broker_host=(args.public_name or [args.broker_host])[0],
        broker_port=args.broker_port,
        host=args.enroll_host,
        port=args.enroll_port,
        server_names=tuple(args.public_name),
        public_url=public_url,
    ).start()
    try:
        serve(service, args.http_host, args.http_port)
    finally:
        enrollment.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
