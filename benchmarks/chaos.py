"""Chaos: whole stories per minute (submission, staff through the API, SMS, loading, pickup by
code) at three terminals on two brokers while the brokers, each backend worker and the
terminals are killed (SIGKILL) and restarted at random; and whether nothing was lost, no SMS
went out twice and no compartment opened twice.

Baseline in the same run: the same stories with no kills. The ratio says what the kills cost.

    .venv/bin/python benchmarks/chaos.py [STORIES] [KILLS] [SEED]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from allhours.chaos import run_chaos


def main(stories: int, kills: int, seed: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        calm = run_chaos(Path(tmp) / "calm", stories, 0, seed=seed, say=lambda _s: None)
        rough = run_chaos(Path(tmp) / "chaos", stories, kills, seed=seed)
    made = sum(rough.kills.values())
    survived = made if not rough.problems else 0
    calm_rate, rough_rate = calm.stories_per_minute, rough.stories_per_minute
    print(
        f"stories: {stories} at 3 terminals on 2 brokers, 2 backend workers on SQLite, seed {seed}"
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
    args = [int(a) for a in sys.argv[1:]]
    raise SystemExit(main(*(args + [12, 8, 1][len(args) :])))
