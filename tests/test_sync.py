"""The synchronous bridge: plain scripts, running event loops, early exits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import acytoo
from acytoo import Acytoo, _sync
from servers.acytoo_server import AcytooTestServer, Reply
from servers.scripts import run_script

MESSAGES: list[Any] = [{"role": "user", "content": "Hello, Acytoo!"}]


def bridge_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "acytoo-sync-bridge"]


def test_create_completion_streams_chunks(threaded_acytoo_server: AcytooTestServer) -> None:
    threaded_acytoo_server.reply(
        Reply(chunks=[b"one ", b"two ", "thr\xc3".encode("latin-1"), b"\xa9e"])
    )
    chunks = list(Acytoo.create_completion("", MESSAGES, url=threaded_acytoo_server.url))
    assert "".join(chunks) == "one two thrée"
    assert all(chunks)


def test_create_completion_without_stream_yields_the_whole_answer(
    threaded_acytoo_server: AcytooTestServer,
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"one ", b"two"]))
    result = list(
        Acytoo.create_completion("", MESSAGES, stream=False, url=threaded_acytoo_server.url)
    )
    assert result == ["one two"]


def test_calls_share_one_loop_thread_and_reuse_the_connection(
    threaded_acytoo_server: AcytooTestServer,
) -> None:
    for _ in range(5):
        assert list(Acytoo.create_completion("", MESSAGES, url=threaded_acytoo_server.url)) == [
            "Hello"
        ]
    assert len(bridge_threads()) == 1
    peers = {request.peer for request in threaded_acytoo_server.requests}
    assert len(peers) == 1, "each call opened a new connection"


async def test_create_completion_inside_a_running_event_loop(
    threaded_acytoo_server: AcytooTestServer,
) -> None:
    # The calling thread runs a loop, as in Jupyter or an async framework.
    assert asyncio.get_running_loop().is_running()
    threaded_acytoo_server.reply(Reply(chunks=[b"from ", b"a loop"]))
    chunks = list(Acytoo.create_completion("", MESSAGES, url=threaded_acytoo_server.url))
    assert "".join(chunks) == "from a loop"
    assert list(
        Acytoo.create_completion("", MESSAGES, stream=False, url=threaded_acytoo_server.url)
    ) == ["Hello"]


def test_breaking_out_of_the_sync_iterator_closes_the_response(
    threaded_acytoo_server: AcytooTestServer,
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"first"], ending="hold"))
    for text in Acytoo.create_completion("", MESSAGES, url=threaded_acytoo_server.url):
        assert text == "first"
        break
    threaded_acytoo_server.wait_disconnected_threadsafe()
    assert list(Acytoo.create_completion("", MESSAGES, url=threaded_acytoo_server.url)) == ["Hello"]


def test_closing_the_sync_iterator_closes_the_response(
    threaded_acytoo_server: AcytooTestServer,
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"first"], ending="hold"))
    iterator = Acytoo.create_completion("", MESSAGES, url=threaded_acytoo_server.url)
    assert next(iterator) == "first"
    iterator.close()  # type: ignore[attr-defined]
    threaded_acytoo_server.wait_disconnected_threadsafe()


def test_sync_errors_propagate(threaded_acytoo_server: AcytooTestServer) -> None:
    threaded_acytoo_server.reply(
        Reply(status=401, chunks=[b'{"msg":"No password or wrong password"}'])
    )
    with pytest.raises(acytoo.AuthenticationError, match=r"^No password"):
        list(Acytoo.create_completion("", MESSAGES, url=threaded_acytoo_server.url))
    with pytest.raises(acytoo.InvalidRequestError):
        list(Acytoo.create_completion("", "not messages", url=threaded_acytoo_server.url))  # type: ignore[arg-type]


SYNC_SCRIPT = """
    import sys
    from acytoo import Acytoo

    messages = [{"role": "user", "content": "Hello, Acytoo!"}]
    url = sys.argv[1]
    print("".join(Acytoo.create_completion("gpt-3.5-turbo", messages, url=url)))
    print(next(Acytoo.create_completion("", messages, stream=False, url=url)))
    for text in Acytoo.create_completion("", messages, url=url):
        break
    print("done")
"""


def test_plain_script_exits_cleanly(
    threaded_acytoo_server: AcytooTestServer, tmp_path: Path
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"Hi ", b"there"]))
    finished = run_script(tmp_path, SYNC_SCRIPT, threaded_acytoo_server.url)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.splitlines() == ["Hi there", "Hello", "done"]
    assert "Unclosed" not in finished.stderr
    assert finished.stderr == ""
    assert len(threaded_acytoo_server.requests) == 3


def test_the_unclosed_check_can_fail(tmp_path: Path) -> None:
    # A control: a leaked session does show up on stderr, so the check above means something.
    leaky = """
        import asyncio, aiohttp

        async def main():
            session = aiohttp.ClientSession()

        asyncio.run(main())
    """
    finished = run_script(tmp_path, leaky)
    assert "Unclosed client session" in finished.stderr


ABANDONED_SCRIPT = """
    import sys
    from acytoo import Acytoo

    # Left open on purpose: the interpreter finalises it at exit.
    iterator = Acytoo.create_completion("", [{"role": "user", "content": "x"}], url=sys.argv[1])
    print(next(iterator))
"""


def test_iterator_left_open_at_exit_neither_hangs_nor_leaks(
    threaded_acytoo_server: AcytooTestServer, tmp_path: Path
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"first"], ending="hold"))
    # A hang would hit run_script's timeout (the server holds the stream open).
    finished = run_script(tmp_path, ABANDONED_SCRIPT, threaded_acytoo_server.url, timeout=30)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["first"]
    assert finished.stderr == ""
    threaded_acytoo_server.wait_disconnected_threadsafe()


CTRL_C_SCRIPT = """
    import sys
    from acytoo import Acytoo

    iterator = Acytoo.create_completion("", [{"role": "user", "content": "x"}], url=sys.argv[1])
    try:
        print(next(iterator), flush=True)
        print(next(iterator), flush=True)  # the server holds: blocks until Ctrl-C
    except KeyboardInterrupt:
        iterator.close()
        print("interrupted", flush=True)
"""


def test_ctrl_c_during_a_blocked_sync_iteration(
    threaded_acytoo_server: AcytooTestServer, tmp_path: Path
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"first"], ending="hold"))
    script = tmp_path / "ctrl_c.py"
    script.write_text(textwrap.dedent(CTRL_C_SCRIPT))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    with subprocess.Popen(
        [sys.executable, "-W", "error::ResourceWarning", str(script), threaded_acytoo_server.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "first"
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out.split() == ["interrupted"]
    assert err == ""
    threaded_acytoo_server.wait_disconnected_threadsafe()


# Ctrl-C can interrupt the caller anywhere, even between queueing a call on the
# background loop and waiting for it; these pin down that cancelling a call
# works whatever state it is in (the race behind a rare hang of the test above).


def test_a_call_cancelled_before_it_was_started_never_runs() -> None:
    loop = _sync._background_loop()
    ran = threading.Event()

    async def work() -> None:
        ran.set()

    call = _sync._Call(work())
    call.cancel(loop)
    loop.call_soon_threadsafe(call.start)  # queued after the cancellation
    _sync.run_in_background(asyncio.sleep(0))  # the loop has handled both
    assert not ran.is_set()
    assert call.future.cancelled()


def test_a_call_cancelled_while_running_is_stopped() -> None:
    loop = _sync._background_loop()
    started = threading.Event()
    cleaned_up = threading.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # never set: only cancellation ends it
        finally:
            cleaned_up.set()

    call = _sync._Call(work())
    loop.call_soon_threadsafe(call.start)
    assert started.wait(10)
    call.cancel(loop)
    assert cleaned_up.wait(10)
    assert call.future.cancelled()
