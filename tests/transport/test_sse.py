"""The SSE decoder: a table of edge cases, and chunk-independence checked against a reference.

The property tests encode a stream to UTF-8, cut the bytes anywhere (inside
CRLF pairs and multi-byte characters included), push the pieces through
TextDecoder then SSEDecoder, and require exactly the events a plain
whole-text, line-by-line parse of the WHATWG rules gives.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acytoo._transport import ServerSentEvent, SSEDecoder, TextDecoder

E = ServerSentEvent


def decode(pieces: list[bytes] | list[str]) -> list[ServerSentEvent]:
    """Events from a stream arriving in ``pieces`` (bytes go through TextDecoder first)."""
    decoder = SSEDecoder()
    text = TextDecoder()
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events += decoder.feed(text.decode(piece) if isinstance(piece, bytes) else piece)
    events += decoder.feed(text.flush())
    return events + decoder.flush()


def reference(stream: str) -> list[ServerSentEvent]:
    """The WHATWG event-stream rules applied to the whole text at once.

    Written independently of SSEDecoder, as simply as possible; an
    unterminated last event is kept, as SSEDecoder.flush documents.
    """
    if stream.startswith("\ufeff"):
        stream = stream[1:]
    events: list[ServerSentEvent] = []
    data: list[str] = []
    event_type = ""
    last_id: str | None = None
    retry: int | None = None

    def dispatch() -> None:
        nonlocal data, event_type
        if data:
            events.append(E("\n".join(data), event_type or "message", last_id, retry))
        data, event_type = [], ""

    for line in re.split(r"\r\n|\r|\n", stream):
        if line == "":
            dispatch()
            continue
        if line[0] == ":":
            continue
        if ":" in line:
            name, value = line[: line.index(":")], line[line.index(":") + 1 :]
            if value[:1] == " ":
                value = value[1:]
        else:
            name, value = line, ""
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id" and "\x00" not in value:
            last_id = value
        elif name == "retry" and re.fullmatch(r"[0-9]+", value):
            retry = int(value)
    dispatch()
    return events


# --- edge cases, one row each -----------------------------------------------------------

CASES: list[tuple[str, str, list[ServerSentEvent]]] = [
    ("one event", "data: hello\n\n", [E("hello")]),
    ("two events", "data: a\n\ndata: b\n\n", [E("a"), E("b")]),
    ("CRLF line ends", "data: a\r\n\r\ndata: b\r\n\r\n", [E("a"), E("b")]),
    ("CR line ends", "data: a\r\rdata: b\r\r", [E("a"), E("b")]),
    ("mixed line ends", "data: a\r\n\ndata: b\r\r\n", [E("a"), E("b")]),
    ("comment lines are ignored", ": keep-alive\ndata: a\n: more\n\n", [E("a")]),
    ("a comment alone is no event", ": ping\n\n", []),
    ("multi-line data joins with LF", "data: a\ndata: b\ndata: c\n\n", [E("a\nb\nc")]),
    ("no space after the colon", "data:a\n\n", [E("a")]),
    ("only one space is removed", "data:  a \n\n", [E(" a ")]),
    ("a field without colon is empty", "data\n\n", [E("")]),
    ("an empty data line counts", "data:\ndata: x\n\n", [E("\nx")]),
    ("colons in the value stay", 'data: {"a": "b:c"}\n\n', [E('{"a": "b:c"}')]),
    ("event type", "event: error\ndata: x\n\n", [E("x", "error")]),
    ("event type resets after dispatch", "event: e\ndata: 1\n\ndata: 2\n\n", [E("1", "e"), E("2")]),
    ("event type without data is dropped", "event: e\n\ndata: 2\n\n", [E("2")]),
    ("id persists", "id: 7\ndata: a\n\ndata: b\n\n", [E("a", id="7"), E("b", id="7")]),
    ("id with NUL is ignored", "id: a\x00b\ndata: x\n\n", [E("x")]),
    ("retry", "retry: 1500\ndata: x\n\n", [E("x", retry=1500)]),
    ("retry must be ASCII digits", "retry: 1.5\nretry: ²\nretry: ١٢\ndata: x\n\n", [E("x")]),
    ("unknown fields are ignored", "foo: bar\ndata: x\n\n", [E("x")]),
    ("blank lines without data", "\n\n\n\ndata: x\n\n\n", [E("x")]),
    ("a leading BOM is ignored", "\ufeffdata: x\n\n", [E("x")]),
    ("a BOM later is data", "data: \ufeffx\n\n", [E("\ufeffx")]),
    ("unterminated last event is kept", "data: a\n\ndata: b", [E("a"), E("b")]),
    ("missing final blank line", "data: a\n", [E("a")]),
    ("done marker is plain data", "data: [DONE]\n\n", [E("[DONE]")]),
    ("non-ASCII", "data: héllo ✓ 😀\n\n", [E("héllo ✓ 😀")]),
    ("empty stream", "", []),
]


@pytest.mark.parametrize(("stream", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_edge_cases(stream: str, expected: list[ServerSentEvent]) -> None:
    assert decode([stream]) == expected
    assert reference(stream) == expected
    # The same text one character at a time gives the same events.
    assert decode(list(stream)) == expected


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data: a\r") == []
    assert decoder.feed("\n\r") == [E("a")]
    assert decoder.feed("\ndata: b\r\n\r\n") == [E("b")]
    assert decoder.flush() == []


def test_an_empty_chunk_between_cr_and_lf_keeps_them_one_line_end() -> None:
    # TextDecoder returns "" for a chunk that only starts a multi-byte
    # character; that must not split a CRLF into two line ends.
    decoder = SSEDecoder()
    assert decoder.feed("data: a\r") == []
    assert decoder.feed("") == []
    assert decoder.feed("\ndata: b\r\n\r\n") == [E("a\nb")]


def test_events_come_out_as_soon_as_their_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data: a\n") == []
    assert decoder.feed("\n") == [E("a")]
    assert decoder.feed("data: b\n\ndata: c") == [E("b")]
    assert decoder.flush() == [E("c")]


def test_a_long_line_in_small_chunks_takes_linear_time() -> None:
    # A quadratic buffer would copy ~8 GB here, a linear one ~8 MB; the
    # test run's time limit catches the former, this checks the result.
    line = "x" * 4_000_000
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for i in range(0, len(line), 1000):
        events += decoder.feed(line[i : i + 1000] if i else "data: " + line[:1000])
    events += decoder.feed("\n\n")
    assert events == [E(line)]


# --- splitting the byte stream anywhere gives the same events --------------------------

SAMPLE = (
    "\ufeff: a comment with é\r\n"
    "event: message\r\n"
    'data: {"choices":[{"delta":{"content":"héllo ✓"}}]}\r\n'
    "\r\n"
    "data: 😀 first\r\n"
    "data: second line\r"
    "\r"
    "id: 42\n"
    "retry: 100\n"
    "event: error\n"
    'data: {"error":{"message":"ü broke"}}\n'
    "\n"
    "data: [DONE]\n\n"
)
SAMPLE_BYTES = SAMPLE.encode()


def test_sample_reference_events() -> None:
    assert reference(SAMPLE) == [
        E('{"choices":[{"delta":{"content":"héllo ✓"}}]}'),
        E("😀 first\nsecond line"),
        E('{"error":{"message":"ü broke"}}', "error", "42", 100),
        E("[DONE]", id="42", retry=100),
    ]


@pytest.mark.parametrize("cut", range(1, len(SAMPLE_BYTES)))
def test_two_way_split_at_every_byte(cut: int) -> None:
    assert decode([SAMPLE_BYTES[:cut], SAMPLE_BYTES[cut:]]) == reference(SAMPLE)


def test_byte_by_byte() -> None:
    pieces = [SAMPLE_BYTES[i : i + 1] for i in range(len(SAMPLE_BYTES))]
    assert decode(pieces) == reference(SAMPLE)


def test_every_three_way_split() -> None:
    expected = reference(SAMPLE)
    size = len(SAMPLE_BYTES)
    for a in range(1, size):
        for b in range(a, size, 3):
            assert decode([SAMPLE_BYTES[:a], SAMPLE_BYTES[a:b], SAMPLE_BYTES[b:]]) == expected


_value = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
    max_size=12,
)
_line = st.one_of(
    st.builds(lambda v: "data:" + v, _value),
    st.builds(lambda v: "data: " + v, _value),
    st.just("data"),
    st.just(""),
    st.just(""),
    st.builds(lambda v: ":" + v, _value),
    st.builds(lambda v: "event: " + v, _value),
    st.builds(lambda v: "id: " + v, _value),
    st.builds(
        lambda v: "retry: " + v, st.one_of(st.from_regex(r"[0-9]{1,4}", fullmatch=True), _value)
    ),
    _value,
)
_streams = st.tuples(
    st.lists(st.tuples(_line, st.sampled_from(["\n", "\r\n", "\r"])), max_size=25),
    st.booleans(),
).map(lambda t: ("\ufeff" if t[1] else "") + "".join(line + end for line, end in t[0]))


@given(stream=_streams, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
@settings(max_examples=400, deadline=None)
def test_any_stream_any_byte_splits_matches_the_reference(stream: str, cuts: list[int]) -> None:
    raw = stream.encode()
    points = sorted({0, len(raw), *(c for c in cuts if c < len(raw))})
    pieces = [raw[a:b] for a, b in itertools.pairwise(points)]
    assert decode(pieces) == reference(stream)


@given(stream=_streams)
@settings(max_examples=200, deadline=None)
def test_any_stream_one_byte_at_a_time_matches_the_reference(stream: str) -> None:
    raw = stream.encode()
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == reference(stream)
