"""Chaos: whole stories per minute (submission, staff through the API, SMS, loading, pickup by
code) at three terminals on two brokers while the brokers, each backend worker and the
terminals are killed (SIGKILL) and restarted at random; and whether nothing was lost, no SMS
went out twice and no compartment opened twice.

Baseline in the same run: the same stories with no kills. The ratio says what the kills cost.

    .venv/bin/python benchmarks/chaos.py [STORIES] [KILLS] [SEED] [sqlite|postgresql]

With `postgresql` both workers share a private PostgreSQL 15 cluster (allhours/postgres.py), a
fresh database for each of the two runs.
"""

from __future__ import annotations

import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from allhours.chaos import run_chaos


def main(stories: int, kills: int, seed: int, database: str = "sqlite") -> int:
    if database not in ("sqlite", "postgresql"):
        print(f"database: sqlite or postgresql, not {database!r}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        urls: dict[str, str | None] = {"calm": None, "chaos": None}
        if database == "postgresql":
            from allhours.postgres import PrivatePostgres

            pg = stack.enter_context(PrivatePostgres(Path(tmp) / "postgres"))
            urls = {run: pg.create_database(f"chaos_{run}") for run in urls}
        calm = run_chaos(
            Path(tmp) / "calm", stories, 0, seed=seed, database_url=urls["calm"], say=lambda _s: 0
        )
        rough = run_chaos(
            Path(tmp) / "chaos", stories, kills, seed=seed, database_url=urls["chaos"]
        )
    made = sum(rough.kills.values())
    survived = made if not rough.problems else 0
    calm_rate, rough_rate = calm.stories_per_minute, rough.stories_per_minute
    print(
        f"stories: {stories} at 3 terminals on 2 brokers, 2 backend workers on {database},"
        f" seed {seed}"
    )
    print(f"no kills:       {calm_rate:6.1f} whole stories/min ({calm.seconds:.0f} s)")
    print(f"with {made:2d} kills:  {rough_rate:6.1f} whole stories/min ({rough.seconds:.0f} s)")
    print(f"kills survived with nothing lost: {survived} of {made} ({dict(rough.kills)})")
    print(
        f"picked up {rough.picked_up} of {stories}; SMS sent {rough.sms}; "
        f"compartments opened by pickups {rough.pickup_openings}"
    )
    print(f"chaos / calm stories-per-minute ratio: {rough_rate / calm_rate:.2f}")
    for problem in calm.problems + rough.problems:
        print(f"PROBLEM: {problem}")
    return 1 if calm.problems or rough.problems else 0


if __name__ == "__main__":
    numbers = [int(a) for a in sys.argv[1:4]]
    numbers += [12, 8, 1][len(numbers) :]
    raise SystemExit(main(*numbers, *sys.argv[4:5]))
