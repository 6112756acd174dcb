"""Per-call time of the planned executor in two checkouts of nanograph, interleaved.

    git worktree add /tmp/before REV
    python benchmarks/revision_compare.py /tmp/before . --rounds 5

Each round runs one worker process per checkout (before, then after), each
importing nanograph from its own tree with one BLAS thread, compiling the
cases at O3 on backend ``numpy`` and taking the best of 5 repeats of a timed
loop per case; the table gives the median over rounds and after/before. Use
it to price a change that touches every call (checks, kernels) against the
commit before it, on the same machine in the same minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CASES = (("lenet", 1), ("pos_tagger", 1), ("vit_tiny", 1), ("vit_tiny", 32), ("banded_speech", 8))

WORKER = """
import json, sys, timeit
tree = sys.argv[1]
sys.path.insert(0, tree)
import nanograph as ng
from nanograph.model_loading import load_model
assert ng.__file__.startswith(tree), ng.__file__
times = {}
for name, batch in json.loads(sys.argv[2]):
    loaded = load_model(name)
    exe = ng.compile(loaded.trace({}), "O3", "numpy")
    feeds = loaded.spec.random_inputs(0, {"N": batch})
    exe(feeds)
    number = 200 if batch == 1 else 20
    best = min(timeit.repeat(lambda: exe(feeds), number=number, repeat=5)) / number
    times[f"{name}@b{batch}"] = best * 1e6
print(json.dumps(times))
"""


def _run(tree: Path) -> dict[str, float]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    env["MKL_NUM_THREADS"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(tree.resolve()), json.dumps(CASES)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path, help="checkout of the earlier revision")
    parser.add_argument("after", type=Path, help="checkout of the later revision")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    before: list[dict[str, float]] = []
    after: list[dict[str, float]] = []
    for _ in range(args.rounds):
        before.append(_run(args.before))
        after.append(_run(args.after))
    print("| case | before (us) | after (us) | after/before |")
    print("|---|---|---|---|")
    for case in before[0]:
        b = statistics.median(r[case] for r in before)
        a = statistics.median(r[case] for r in after)
        print(f"| {case} | {b:.0f} | {a:.0f} | {a / b:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
