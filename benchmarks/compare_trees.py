"""SMTP ingest of this checkout against another one (an older commit), alternating, in one run.

    git worktree add /tmp/before HEAD~5      # or: git archive REV | tar -x -C /tmp/before
    python -m benchmarks.compare_trees /tmp/before [--servers memory,sqlite] [--rounds 3]

Each scenario of ``benchmarks.smtp_ingest`` runs a fresh server from each tree
in turn, the order swapped every round, and the medians are compared: on a
shared, noisy machine only a ratio measured side by side means much, and the
server's CPU per message is steadier than its rate.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import benchmarks.smtp_ingest as ingest

Pair = tuple[str, ingest.Result]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="the other checkout (its mailsink/ is run)")
    parser.add_argument("--servers", default="memory,sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--only", default="", help="run scenarios whose name contains this")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": ingest.ROOT}
    kinds = args.servers.split(",")
    print(f"{'scenario':<20}{'server':<8}{'before/s':>9}{'after/s':>9}{'rate':>7}{'CPU':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in ingest.scenarios(args.messages):
            if args.only not in scenario.name:
                continue
            runs: list[tuple[str, str, ingest.Result]] = []
            for round_no in range(args.rounds):
                order = ["before", "after"] if round_no % 2 == 0 else ["after", "before"]
                for kind in kinds:
                    for tree in order:
                        ingest.ROOT = trees[tree]  # start_server runs the tree's own code
                        runs.append(
                            (kind, tree, ingest.run_one(kind, scenario, round_no, Path(tmp)))
                        )
            ingest.ROOT = trees["after"]
            for kind in kinds:
                results = [(t, r) for k, t, r in runs if k == kind]

                def median(tree: str, field: str, results: list[Pair] = results) -> float:
                    return statistics.median(getattr(r, field) for t, r in results if t == tree)

                rate = median("after", "msgs_per_s") / median("before", "msgs_per_s")
                cpu = median("after", "cpu_ms_per_msg") / median("before", "cpu_ms_per_msg")
                print(
                    f"{scenario.name:<20}{kind:<8}{median('before', 'msgs_per_s'):>9.0f}"
                    f"{median('after', 'msgs_per_s'):>9.0f}{rate:>6.2f}x{cpu:>6.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
