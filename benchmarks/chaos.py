"""Chaos: stories per minute at a scripted terminal while the broker, each backend worker and
the terminal are killed (SIGKILL) and restarted at random; and whether nothing was lost.

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
    survived = sum(rough.kills.values()) if not rough.problems else 0
    calm_rate, rough_rate = calm.stories_per_minute, rough.stories_per_minute
    print(f"stories: {stories} at one terminal, 2 backend workers on SQLite, seed {seed}")
    print(f"no kills:       {calm_rate:6.1f} stories/min ({calm.seconds:.0f} s)")
    print(f"with {kills:2d} kills:  {rough_rate:6.1f} stories/min ({rough.seconds:.0f} s)")
    print(f"kills survived with nothing lost: {survived} of {kills} ({dict(rough.kills)})")
    print(f"chaos / calm stories-per-minute ratio: {rough_rate / calm_rate:.2f}")
    for problem in calm.problems + rough.problems:
        print(f"PROBLEM: {problem}")
    return 1 if calm.problems or rough.problems else 0


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    raise SystemExit(main(*(args + [10, 6, 1][len(args) :])))
