"""The offline assistant's hit rate on the evaluation set in tests/providers/offline_eval.json.

    python bench/offline_eval.py [--misses]

"Right section first": the first section the answer quotes is one of the
question's expected sections. Multi-part questions count as right when every
expected section is quoted. The same figure is asserted by
tests/providers/test_local_eval.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acytoo.providers.local import answer

DATA = Path(__file__).resolve().parent.parent / "tests" / "providers" / "offline_eval.json"


def quoted(question: str) -> list[str]:
    text = answer([{"role": "user", "content": question}])
    last = text.rstrip("\n").splitlines()[-1]
    return last[len("Sources: ") :].split("; ") if last.startswith("Sources: ") else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--misses", action="store_true", help="list the questions missed")
    arguments = parser.parse_args()
    data = json.loads(DATA.read_text(encoding="utf-8"))
    hits = 0
    for question, expected in data["questions"]:
        got = quoted(question)
        if got and got[0] in expected:
            hits += 1
        elif arguments.misses:
            print(f"MISS {question!r}\n     want {expected[0]}\n     got  {got}")
    parts = 0
    for question, expected in data["multi_part"]:
        got = quoted(question)
        if set(expected) <= set(got):
            parts += 1
        elif arguments.misses:
            print(f"MISS {question!r}\n     want {expected}\n     got  {got}")
    held = 0
    for question, expected in data["held_out"]:
        got = quoted(question)
        if got and got[0] in expected:
            held += 1
        elif arguments.misses:
            print(f"MISS (held out) {question!r}\n     want {expected[0]}\n     got  {got}")
    total = len(data["questions"])
    print(f"right section first: {hits}/{total} = {hits / total:.1%}")
    print(
        f"held-out questions: {held}/{len(data['held_out'])} = {held / len(data['held_out']):.1%}"
    )
    print(f"multi-part questions with every part answered: {parts}/{len(data['multi_part'])}")


if __name__ == "__main__":
    main()
