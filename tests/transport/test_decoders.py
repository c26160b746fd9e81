"""TextDecoder: incremental, never breaks a character, never raises."""

from __future__ import annotations

import codecs
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acytoo._transport import TextDecoder

SAMPLE = "a\u00e9\u20ac\U0001f600 \u041f\u0440\u0438\u0432\u0435\u0442 \u4e16\u754c \U0001d11e!"


def decode_pieces(pieces: list[bytes], charset: str | None = None) -> list[str]:
    decoder = TextDecoder(charset)
    out = [decoder.decode(piece) for piece in pieces]
    out.append(decoder.flush())
    return out


@pytest.mark.parametrize("cut", range(len(SAMPLE.encode()) + 1))
def test_two_way_split_at_every_byte(cut: int) -> None:
    data = SAMPLE.encode()
    out = decode_pieces([data[:cut], data[cut:]])
    assert "".join(out) == SAMPLE
    assert not any("\ufffd" in piece for piece in out)


def test_every_three_way_split() -> None:
    data = SAMPLE.encode()
    for first, second in itertools.combinations(range(len(data) + 1), 2):
        out = decode_pieces([data[:first], data[first:second], data[second:]])
        assert "".join(out) == SAMPLE, (first, second)


def test_byte_by_byte() -> None:
    data = SAMPLE.encode()
    assert "".join(decode_pieces([bytes([b]) for b in data])) == SAMPLE


@given(st.text(), st.lists(st.integers(min_value=0, max_value=400), max_size=10))
def test_any_text_any_splits(text: str, cuts: list[int]) -> None:
    data = text.encode("utf-8", "surrogatepass")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        return
    bounds = [0, *sorted(c for c in set(cuts) if c <= len(data)), len(data)]
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert "".join(decode_pieces(pieces)) == text


@pytest.mark.parametrize(
    ("charset", "text"),
    [("latin-1", "Café"), ("cp1251", "Привет"), ("utf-16", "hé😀"), ("UTF-8", "ü€")],
)
def test_named_charsets(charset: str, text: str) -> None:
    data = text.encode(charset)
    out = decode_pieces([data[i : i + 1] for i in range(len(data))], charset)
    assert "".join(out) == text


def test_unknown_charset_falls_back_to_utf8() -> None:
    assert "".join(decode_pieces(["ü".encode()], "x-no-such-charset")) == "ü"


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        ([b"\xff"], "\ufffd"),
        ([b"ok\xc3(", b"end"], "ok\ufffd(end"),
        ([b"\xed\xa0\x80"], "\ufffd\ufffd\ufffd"),  # an encoded surrogate is invalid UTF-8
        ([b"cut \xe2\x82"], "cut \ufffd"),  # flush turns a truncated character into U+FFFD
    ],
)
def test_invalid_bytes_are_replaced_not_raised(pieces: list[bytes], expected: str) -> None:
    assert "".join(decode_pieces(pieces)) == expected


def test_partial_character_yields_empty_then_the_character() -> None:
    decoder = TextDecoder()
    assert decoder.decode(b"\xf0\x9f") == ""
    assert decoder.decode(b"\x98") == ""
    assert decoder.decode(b"\x80") == "\U0001f600"
    assert decoder.flush() == ""


@pytest.mark.parametrize("charset", ["base64", "rot13", "zlib", "hex", "uu"])
def test_codecs_that_do_not_produce_text_fall_back_to_utf8(charset: str) -> None:
    # A server naming one of these must not make the client yield bytes or crash.
    out = decode_pieces(["hé 😀".encode()], charset)
    assert "".join(out) == "hé 😀"
    assert all(isinstance(piece, str) for piece in out)


@pytest.mark.parametrize(
    ("charset", "encoding"),
    [
        ("utf-16", "utf-16-be"),
        ("utf-16", "utf-16-le"),
        ("utf-16", "utf-16"),
        ("UTF-32", "utf-32-be"),
        ("utf-32", "utf-32"),
    ],
)
def test_utf16_and_utf32_with_or_without_bom(charset: str, encoding: str) -> None:
    text = "héllo 😀"
    data = (codecs.BOM_UTF16_LE if encoding == "utf-16-le" else b"") + text.encode(encoding)
    for size in (1, 2, 3, len(data)):
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        assert "".join(decode_pieces(pieces, charset)) == text, size


def test_bomless_utf16_is_big_endian_and_never_raises() -> None:
    out = decode_pieces([b"\x00h\x00i\x00"], "utf-16")
    assert "".join(out) == "hi\ufffd"
