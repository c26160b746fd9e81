"""Print line and branch coverage of the last test run and hold each at a minimum.

Usage: ``python scripts/coverage_gate.py [--min 90]`` after a test run under
coverage (``.ci/run`` runs the suite with ``--cov``; subprocesses started by the
tests are measured too, see ``[tool.coverage.run]`` in ``pyproject.toml``).
Exits 1 when lines or branches fall below the minimum.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=float, default=90.0, help="minimum percentage (default 90)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "coverage.json"
        subprocess.run(
            [sys.executable, "-m", "coverage", "json", "-q", "-o", str(report)], check=True
        )
        totals = json.loads(report.read_text())["totals"]
    lines = 100 * totals["covered_lines"] / max(totals["num_statements"], 1)
    branches = 100 * totals["covered_branches"] / max(totals["num_branches"], 1)
    print(
        f"coverage: lines {lines:.1f}% ({totals['covered_lines']}/{totals['num_statements']}), "
        f"branches {branches:.1f}% ({totals['covered_branches']}/{totals['num_branches']}); "
        f"minimum {args.min:.0f}%"
    )
    failing = [
        name for name, value in (("lines", lines), ("branches", branches)) if value < args.min
    ]
    if failing:
        print(f"coverage below {args.min:.0f}%: {', '.join(failing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
