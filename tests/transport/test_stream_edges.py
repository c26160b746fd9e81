"""Edges of open_stream against the real scripted server on 127.0.0.1: bodies that cannot
be sent, redirects without a usable Location, error bodies that are huge, cut or odd."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

import acytoo
from acytoo import RetryPolicy
from acytoo._transport import HTTPRequest, TransportOptions, error_detail, open_stream
from acytoo._transport._stream import ERROR_BODY_EXCERPT
from servers.acytoo_server import AcytooTestServer, Reply

NO_RETRY = TransportOptions(retry=RetryPolicy(max_retries=0))


async def read_all(url: str, body: object = None) -> list[str]:
    request = HTTPRequest(URL(url + "/api/completions"), {"accept": "*/*"}, body or {"q": 1})
    async with open_stream(request, NO_RETRY) as response:
        return [text async for text in response.iter_text()]


async def test_a_body_that_is_not_json_is_an_invalid_request_before_any_io(
    acytoo_server: AcytooTestServer,
) -> None:
    with pytest.raises(acytoo.InvalidRequestError, match="cannot be sent as JSON"):
        await read_all(acytoo_server.url, {"tags": {"a", "b"}})
    assert acytoo_server.requests == []


async def test_a_redirect_without_location_says_so(acytoo_server: AcytooTestServer) -> None:
    acytoo_server.reply(Reply(status=302, chunks=[]))
    with pytest.raises(acytoo.APIStatusError, match="no Location") as caught:
        await read_all(acytoo_server.url)
    assert caught.value.status == 302
    assert len(acytoo_server.requests) == 1


async def test_a_redirect_to_an_unparsable_location_is_named_not_raised(
    acytoo_server: AcytooTestServer,
) -> None:
    acytoo_server.reply(Reply(status=301, headers={"Location": "http://[::1/x"}, chunks=[]))
    with pytest.raises(acytoo.APIStatusError, match=r"to http://\[::1/x;") as caught:
        await read_all(acytoo_server.url)
    assert caught.value.status == 301


async def test_a_huge_error_body_is_cut_to_its_excerpt(acytoo_server: AcytooTestServer) -> None:
    body = b'{"msg": "' + b"z" * 200_000 + b'"}'
    acytoo_server.reply(Reply(status=400, chunks=[body], content_type="application/json"))
    with pytest.raises(acytoo.BadRequestError) as caught:
        await read_all(acytoo_server.url)
    error: Any = caught.value
    assert error.status == 400
    assert error.body == body[:ERROR_BODY_EXCERPT].decode()
    # Past the read limit the JSON is incomplete: no detail, the reason instead.
    assert str(error).startswith("Bad Request (HTTP 400 from ")


async def test_an_error_body_cut_short_still_gives_the_status(
    acytoo_server: AcytooTestServer,
) -> None:
    acytoo_server.reply(Reply(status=503, chunks=[b'{"msg": "overlo'], ending="abort"))
    with pytest.raises(acytoo.APIStatusError) as caught:
        await read_all(acytoo_server.url)
    assert caught.value.status == 503
    assert "HTTP 503 from" in str(caught.value)
    assert len(acytoo_server.requests) == 1


@pytest.mark.parametrize(
    "body",
    ['{"error": {"message": 5}}', '{"error": {"message": ""}}', '{"error": []}', '{"error": ""}'],
)
def test_error_detail_without_a_usable_message(body: str) -> None:
    assert error_detail(body) is None


async def test_an_error_whose_message_is_not_text_falls_back_to_the_reason(
    acytoo_server: AcytooTestServer,
) -> None:
    acytoo_server.reply(Reply(status=404, chunks=[b'{"error": {"message": 5}}']))
    with pytest.raises(acytoo.NotFoundError, match=r"^Not Found \(HTTP 404 from "):
        await read_all(acytoo_server.url)
