"""Rebuild the offline assistant's index from README.md and docs/*.md.

    python scripts/build_docs_index.py          # write src/acytoo/providers/_docs_index.json
    python scripts/build_docs_index.py --check  # exit 1 if the packaged index is stale

Run it after editing the README or any page under docs/; the test suite
fails while the packaged index does not match the documentation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

from docs_index.build import INDEX_PATH, build_index, dumps_index  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether it is stale")
    arguments = parser.parse_args()
    text = dumps_index(build_index(ROOT))
    current = INDEX_PATH.read_text(encoding="utf-8") if INDEX_PATH.exists() else None
    if arguments.check:
        if current != text:
            print(f"{INDEX_PATH.relative_to(ROOT)} is stale: run {Path(__file__).name}")
            return 1
        print(f"{INDEX_PATH.relative_to(ROOT)} is up to date")
        return 0
    if current != text:
        INDEX_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {INDEX_PATH.relative_to(ROOT)} ({len(text.encode()):,} bytes)")
    else:
        print(f"{INDEX_PATH.relative_to(ROOT)} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
