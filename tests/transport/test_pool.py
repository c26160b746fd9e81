"""The pooled session: one per loop, reused, closed cleanly at loop shutdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from yarl import URL

from acytoo import Acytoo, aclose_sessions
from acytoo._transport import pooled_session
from servers.acytoo_server import AcytooTestServer, Reply
from servers.scripts import run_script

MESSAGES: list[Any] = [{"role": "user", "content": "Hello, Acytoo!"}]


async def test_calls_reuse_one_pooled_connection(acytoo_server: AcytooTestServer) -> None:
    for _ in range(5):
        assert await Acytoo.create_async("", MESSAGES, url=acytoo_server.url) == "Hello"
    assert len({request.peer for request in acytoo_server.requests}) == 1


async def test_one_session_per_loop_and_proxy_kind() -> None:
    direct = await pooled_session(None)
    assert await pooled_session(None) is direct
    assert await pooled_session(URL("http://127.0.0.1:3128")) is direct
    socks = await pooled_session(URL("socks5://127.0.0.1:1080"))
    assert socks is not direct
    assert await pooled_session(URL("socks5://127.0.0.1:1080")) is socks
    await aclose_sessions()
    assert direct.closed
    assert socks.closed
    reopened = await pooled_session(None)
    assert reopened is not direct
    assert not reopened.closed


async def test_connection_is_reusable_after_a_cancelled_stream(
    acytoo_server: AcytooTestServer,
) -> None:
    acytoo_server.reply(Reply(chunks=[b"first"], ending="hold"))
    generator = Acytoo.create_async_generator("", MESSAGES, url=acytoo_server.url)
    assert await generator.__anext__() == "first"
    await generator.aclose()
    await acytoo_server.wait_disconnected()
    session = await pooled_session(None)
    assert not session.closed
    # The dropped connection was not returned to the pool; fresh ones work and are reused.
    for _ in range(3):
        assert await Acytoo.create_async("", MESSAGES, url=acytoo_server.url) == "Hello"
    peers = [request.peer for request in acytoo_server.requests]
    assert peers[0] not in peers[1:]
    assert len(set(peers[1:])) == 1


ASYNCIO_RUN_SCRIPT = """
    import asyncio, sys
    from acytoo import Acytoo

    messages = [{"role": "user", "content": "Hello, Acytoo!"}]

    async def main():
        print(await Acytoo.create_async("", messages, url=sys.argv[1]))
        async for text in Acytoo.create_async_generator("", messages, url=sys.argv[1]):
            print(text)

    asyncio.run(main())
    # A second loop gets its own session, also closed at its end.
    asyncio.run(main())
"""


def test_pooled_session_is_closed_when_asyncio_run_ends(
    threaded_acytoo_server: AcytooTestServer, tmp_path: Path
) -> None:
    finished = run_script(tmp_path, ASYNCIO_RUN_SCRIPT, threaded_acytoo_server.url)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["Hello"] * 4
    assert finished.stderr == ""


EARLY_EXIT_SCRIPT = """
    import asyncio, sys
    from acytoo import Acytoo

    async def main():
        async for text in Acytoo.create_async_generator(
            "", [{"role": "user", "content": "x"}], url=sys.argv[1]
        ):
            print(text)
            break

    asyncio.run(main())
"""


def test_abandoned_stream_at_loop_end_leaves_nothing_unclosed(
    threaded_acytoo_server: AcytooTestServer, tmp_path: Path
) -> None:
    threaded_acytoo_server.reply(Reply(chunks=[b"first"], ending="hold"))
    finished = run_script(tmp_path, EARLY_EXIT_SCRIPT, threaded_acytoo_server.url)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["first"]
    assert finished.stderr == ""
    threaded_acytoo_server.wait_disconnected_threadsafe()
