"""`allhours fleet-sim`: simulated terminals over mutual TLS, for load and fault drills.

Runs on the backend host (it needs the site CA directory to enroll the terminals and the
backend's database to register them, as the enrollment endpoint does).
"""

from __future__ import annotations

import argparse
import secrets
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fleet-sim", help="simulated terminals over mTLS (load, faults)")
    p.add_argument("--terminals", type=int, required=True, help="how many (1-20000)")
    p.add_argument("--ca-dir", type=Path, default=Path("var/site-ca"), help="the site CA")
    p.add_argument("--database-url", required=True, help="the backend's database")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--dir", type=Path, default=Path("var/fleet-sim"), help="their identities")
    p.add_argument("--prefix", default="SIM", help="terminal ids are PREFIX00001, …")
    p.add_argument("--keepalive", type=int, default=30)
    p.add_argument("--telemetry-s", type=float, default=60.0)
    p.add_argument("--silence", type=int, default=0, help="this many go silent after start")
    p.add_argument(
        "--silence-after", type=float, default=0, help="seconds after all are online to silence"
    )
    p.add_argument("--drop", type=int, default=0, help="this many drop (the will) after start")
    p.add_argument("--flap", type=int, default=0, help="this many flap every --flap-s")
    p.add_argument("--flap-s", type=float, default=60.0)
    p.add_argument("--duration", type=float, default=0, help="seconds; 0 runs until Ctrl-C")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from allhours.fleet_sim import FleetSim, SimSettings, enroll_fleet
    from backend.db import Database
    from backend.fleet import register_terminal
    from provisioning.authority import SiteAuthority

    if not 1 <= args.terminals <= 20000:
        print("--terminals must be 1-20000")
        return 2
    authority = SiteAuthority(args.ca_dir)
    db = Database(args.database_url)

    def register_one(tid: str) -> None:
        with db.transaction() as session:
            register_terminal(session, tid, secrets.token_bytes(32))

    ids = [f"{args.prefix}{i:05d}" for i in range(1, args.terminals + 1)]
    started = time.monotonic()
    identities = enroll_fleet(authority, ids, args.dir, register_one)
    print(f"enrolled {len(ids)} terminals in {time.monotonic() - started:.1f} s", flush=True)
    settings = SimSettings(
        host=args.host, port=args.port, keepalive=args.keepalive, telemetry_s=args.telemetry_s
    )
    # The backend's public signing keys, as an enrollment bundle carries them: the simulated
    # terminals verify every command with them before acking it.
    sim = FleetSim(identities, settings, authority.backend_signing_keys()).start()
    try:
        while sim.online() < len(ids) and time.monotonic() - started < 600:
            time.sleep(0.5)
        print(f"{sim.online()} online after {time.monotonic() - started:.1f} s", flush=True)
        time.sleep(args.silence_after)
        for tid in ids[: args.silence]:
            sim.silence(tid)
        if args.silence:
            print(f"silenced {args.silence} at {time.time():.3f}", flush=True)
        for tid in ids[args.silence : args.silence + args.drop]:
            sim.drop(tid)
        first = args.silence + args.drop
        for tid in ids[first : first + args.flap]:
            sim.flap(tid, args.flap_s)
        deadline = time.monotonic() + args.duration if args.duration else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(10 if deadline is None else min(10, max(0, deadline - time.monotonic())))
            print(
                f"{sim.online()} of {len(ids)} connected, {sim.lost()} lost, "
                f"{sim.commands_answered} commands answered, {sim.commands_refused} refused",
                flush=True,
            )
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        db.dispose()
    return 0
