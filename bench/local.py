"""Benchmark of the offline assistant (the ``Local`` provider).

    python bench/local.py [--runs 30] [--rounds 20]

Measures, in fresh interpreters: importing ``acytoo.providers.local``,
loading the packaged index and getting the first chunk of an answer, next to
``python -c pass``; the import cost by ``python -X importtime``; and, in this
process, the latency of answering a fixed list of questions (first chunk and
whole answer, p50/p99). Prints a Markdown table for docs/benchmarks.md.

The fresh interpreters use a bytecode cache (in a temporary directory), as an
installed package has; a checkout run with PYTHONDONTWRITEBYTECODE=1 compiles
every module from source on each start, which one row shows for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from _common import cpu_model, percentile, table_head, table_row
from acytoo.providers.local import Local, answer, load_index

QUESTIONS = [
    "Hello",
    "how do I use a SOCKS proxy",
    "run the server with ollama",
    "what does exit code 3 mean",
    "set a password on the server",
    "timeout",
    "how do retries work?",
    "Where is my chat history stored?",
    "config file",
    "rate limit",
    "how do I install it",
    "cancel a stream",
    "graceful shutdown on SIGTERM",
    "Unclosed client session warning",
    "continue the last conversation",
    "what models are available",
    "use the openai python sdk with the server",
    "what is the capital of France",
    "write me a poem about cats",
    "hello, how do I set a password on the server?",
]

_COLD_CHILD = """
import time
start = time.perf_counter()
import asyncio
from acytoo.providers.local import Local, load_index
imported = time.perf_counter()
load_index()
loaded = time.perf_counter()

async def main():
    stream = Local.create_async_generator(
        "", [{"role": "user", "content": "how do I use a SOCKS proxy"}]
    )
    await stream.__anext__()
    first = time.perf_counter()
    async for _ in stream:
        pass
    return first, time.perf_counter()

first, done = asyncio.run(main())
import sys, json
print(json.dumps({
    "import": imported - start, "load": loaded - imported, "first": first - loaded,
    "total_first": first - start, "done": done - start,
    "aiohttp": "aiohttp" in sys.modules,
}))
"""


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def spread(samples: Sequence[float]) -> str:
    """Median and minimum: on a shared machine the minimum shows the cost itself."""
    return f"{ms(statistics.median(samples))} ({ms(min(samples))})"


_CACHE = tempfile.mkdtemp(prefix="acytoo-bench-pycache-")
CACHED = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPYCACHEPREFIX": _CACHE,
}
UNCACHED = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def wall(arguments: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(arguments, check=True, capture_output=True, env=CACHED)
        times.append(time.perf_counter() - start)
    return times


def cold(runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {}
    for _ in range(runs):
        output = subprocess.run(
            [sys.executable, "-c", _COLD_CHILD],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout
        row = json.loads(output)
        if row.pop("aiohttp"):
            raise SystemExit("the offline path imported aiohttp")
        for key, value in row.items():
            results.setdefault(key, []).append(value)
    return results


def import_time(module: str, runs: int) -> list[float]:
    """Cumulative import times of ``module`` in seconds, by ``-X importtime``."""
    samples = []
    for _ in range(runs):
        stderr = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            check=True,
            capture_output=True,
            text=True,
            env=CACHED,
        ).stderr
        for line in stderr.splitlines():
            parts = [part.strip() for part in line.split("|")]
            if len(parts) == 3 and parts[2] == module:
                samples.append(int(parts[1]) / 1e6)
    return samples


async def warm(rounds: int) -> tuple[list[float], list[float]]:
    first_chunk: list[float] = []
    whole: list[float] = []
    for _ in range(rounds):
        for question in QUESTIONS:
            messages = [{"role": "user", "content": question}]
            start = time.perf_counter()
            stream = Local.create_async_generator("", messages)  # type: ignore[arg-type]
            await stream.__anext__()
            first_chunk.append(time.perf_counter() - start)
            async for _ in stream:
                pass
            whole.append(time.perf_counter() - start)
    return first_chunk, whole


def machine() -> str:
    cpus = os.cpu_count()
    model = cpu_model("")
    return f"{platform.system()} {platform.machine()}, {cpus} CPUs {model}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30, help="fresh interpreters per measure")
    parser.add_argument("--rounds", type=int, default=20, help="passes over the question list")
    arguments = parser.parse_args()

    index = load_index()
    size = os.path.getsize(
        os.path.join(
            os.path.dirname(sys.modules[Local.__module__].__file__ or ""), "_docs_index.json"
        )
    )
    # Fill the bytecode cache once, as installing the package does.
    cold(1, CACHED)
    import_time("acytoo.providers.acytoo", 1)
    baseline = wall([sys.executable, "-c", "pass"], arguments.runs)
    offline = wall(
        [
            sys.executable,
            "-c",
            "from acytoo.providers.local import answer; "
            "answer([{'role': 'user', 'content': 'timeout'}])",
        ],
        arguments.runs,
    )
    cold_rows = cold(arguments.runs, CACHED)
    source_rows = cold(arguments.runs, UNCACHED)
    local_import = import_time("acytoo.providers.local", arguments.runs)
    acytoo_import = import_time("acytoo", arguments.runs)
    http_import = import_time("acytoo.providers.acytoo", arguments.runs)
    first_chunk, whole = asyncio.run(warm(arguments.rounds))
    answer_words = statistics.mean(
        len(answer([{"role": "user", "content": q}]).split()) for q in QUESTIONS
    )  # type: ignore[misc]

    rows = [
        (
            "index",
            f"{len(index.sections)} sections, {len(index.search.idf)} terms, {size / 1024:.0f} KiB JSON",
        ),
        ("`python -c pass` (wall)", spread(baseline)),
        ("python + import + answer one question (wall)", spread(offline)),
        (
            "cold: import `acytoo.providers.local`",
            spread(cold_rows["import"]),
        ),
        ("cold: load the index", spread(cold_rows["load"])),
        ("cold: first chunk after load", spread(cold_rows["first"])),
        (
            "cold: import + load + first chunk",
            spread(cold_rows["total_first"]),
        ),
        (
            "cold, no bytecode cache: import + load + first chunk",
            spread(source_rows["total_first"]),
        ),
        ("`-X importtime`: `acytoo.providers.local` (cumulative)", spread(local_import)),
        ("`-X importtime`: `acytoo` (lazy package)", spread(acytoo_import)),
        (
            "`-X importtime`: `acytoo.providers.acytoo` (aiohttp client, for comparison)",
            spread(http_import),
        ),
        (
            f"warm: first chunk, {len(first_chunk)} questions (p50 / p99)",
            f"{ms(percentile(first_chunk, 0.5))} / {ms(percentile(first_chunk, 0.99))}",
        ),
        (
            f"warm: whole answer, mean {answer_words:.0f} words (p50 / p99)",
            f"{ms(percentile(whole, 0.5))} / {ms(percentile(whole, 0.99))}",
        ),
    ]
    print(f"Machine: {machine()}; {arguments.runs} fresh interpreters per cold figure.\n")
    print("Cold figures: median (minimum).\n")
    print(table_head("Measure", "Result"))
    for name, value in rows:
        print(table_row(name, value))


if __name__ == "__main__":
    main()
