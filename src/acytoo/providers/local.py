"""``Local``: the offline documentation assistant, the default backend.

It answers questions about acytoo from acytoo's own documentation (the
README and ``docs/*.md``), packaged with the library as a precomputed BM25
index (``_docs_index.json``, written by ``scripts/build_docs_index.py``). No
network, no model download, and the same answer for the same conversation.

This module imports nothing heavy: the CLI's offline path and ``acytoo
serve`` without a backend must start fast, so aiohttp stays unimported.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

from .._base_errors import InvalidRequestError
from ..typing import AsyncResult, Messages
from ._bm25 import Match, SearchIndex, terms
from ._local_text import GREETING, NO_MATCH, THANKS, model_note
from .base import AsyncGeneratorProvider, validate_messages, validate_temperature

__all__ = ["MODEL", "Local", "answer", "iter_chunks"]

MODEL = "acytoo-docs-offline"
INDEX_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_docs_index.json")

# Earlier user turns are context, not the question: their terms count this
# much (halving again for each turn further back).
HISTORY_WEIGHT = 0.3
# A section is relevant when it contains at least this share of the question's
# specific words (by IDF) and scores at least this share of the best possible
# score for them.
MIN_COVERAGE = 0.5
MIN_STRENGTH = 0.3
# Further passages are added while they score this close to the best one and
# the answer stays short enough to read.
RELATED_RATIO = 0.85
MAX_PASSAGES = 3
WORD_BUDGET = 400
# Sections already cited earlier in the conversation make way for new ones.
CITED_PENALTY = 0.5
# A section whose whole title is in the question ("rate limit" -> "Rate
# limiting") is what the question names; BM25 alone cannot tell it from a
# longer section using the same words, notably for words found everywhere.
TITLE_MATCH_BOOST = 1.25
# The README summarises what the docs pages explain in full: on a near tie,
# the page is the better answer.
OVERVIEW_FACTOR = 0.8
OVERVIEW_SOURCES = frozenset({"README.md"})

_ACCEPTED_OPTIONS = frozenset(
    # Transport options are accepted so that Local can stand in for an HTTP
    # provider unchanged (in a RetryProvider, behind the server, in the CLI);
    # with no network they have nothing to do.
    {"temperature", "timeout", "max_retries", "retry_policy", "session"}
)
_CHUNK = re.compile(
    # A fenced code block is one chunk; everything else goes word by word,
    # each word carrying the whitespace after it.
    r"^(?P<fence>`{3,}|~{3,})[^\n]*\n.*?^(?P=fence)[^\n]*(?:\n[ \t]*)*|\S+\s*|\s+",
    re.MULTILINE | re.DOTALL,
)
_SOURCES_PREFIX = "Sources: "
_WORDS = re.compile(r"[a-z']+")
_GREETING_WORDS = frozenset(
    str.split("hello hi hey hiya howdy yo greetings hallo bonjour hola morning afternoon evening")
)
_SMALL_TALK = _GREETING_WORDS | frozenset(
    str.split(
        "good there acytoo assistant bot friend you how are is it going doing today all everyone"
        " what's up"
    )
)
_ABOUT_YOU = frozenset(
    {
        "help",
        "who are you",
        "what are you",
        "what is this",
        "what can you do",
        "what can i ask",
        "what can i ask you",
        "what do you know",
        "how are you",
        "start",
        "intro",
    }
)
_THANKS = frozenset({"thanks", "thank you", "thx", "ty", "cheers", "great thanks", "ok thanks"})


@dataclass(frozen=True)
class DocSection:
    """One packaged section of the documentation."""

    source: str
    anchor: str
    path: tuple[str, ...]
    text: str

    @property
    def title(self) -> str:
        return self.path[-1]

    @property
    def label(self) -> str:
        return f"{self.source} § {self.title}"

    @cached_property
    def title_terms(self) -> frozenset[str]:
        return frozenset(terms(self.title))


@dataclass(frozen=True)
class DocsIndex:
    """The packaged sections and their BM25 index."""

    sections: Sequence[DocSection]
    search: SearchIndex


_index: DocsIndex | None = None


def load_index() -> DocsIndex:
    """The packaged index, read once per process."""
    global _index
    if _index is None:
        with open(INDEX_FILE, encoding="utf-8") as file:
            data = json.load(file)
        sections = [
            DocSection(source, anchor, tuple(path), text)
            for source, anchor, path, text in data["sections"]
        ]
        _index = DocsIndex(sections, SearchIndex(len(sections), data["idf"], data["postings"]))
    return _index


class Local(AsyncGeneratorProvider):
    """The offline documentation assistant: answers about acytoo from its own docs.

    It ranks the documentation's sections with BM25 against the last user
    message (earlier user messages count as weaker context), streams the best
    one to three passages word by word and ends with a ``Sources:`` line. With
    nothing relevant it says so and explains how to use a real model.

    Any ``model`` is accepted (clients of the Acytoo protocol send
    ``gpt-3.5-turbo`` by default) and always gets this assistant, which names
    itself. Options: ``temperature`` (validated, no effect); ``timeout``,
    ``max_retries``, ``retry_policy``, ``session`` and ``proxy`` are accepted
    so it can replace an HTTP provider, and ignored.
    """

    url: ClassVar[str | None] = None
    working: ClassVar[bool] = True
    supports_message_history: ClassVar[bool] = True
    default_model: ClassVar[str] = MODEL
    models: ClassVar[tuple[str, ...]] = (MODEL,)

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        """Yield the answer to ``messages`` word by word."""
        options = cls.options(kwargs)
        unknown = sorted(set(options) - _ACCEPTED_OPTIONS)
        if unknown:
            raise InvalidRequestError(
                f"{cls.__name__} got unexpected option(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(sorted(_ACCEPTED_OPTIONS))}"
            )
        if model is not None and not isinstance(model, str):
            raise InvalidRequestError(f"model must be a string, not {type(model).__name__}")
        validate_messages(messages)
        if "temperature" in options:
            validate_temperature(options["temperature"])
        for chunk in iter_chunks(answer(messages, model or MODEL)):
            yield chunk
            # Let other tasks run between words (the server streams many answers at once).
            await asyncio.sleep(0)


def iter_chunks(text: str) -> Iterator[str]:
    """``text`` in streaming chunks whose concatenation is exactly ``text``."""
    for match in _CHUNK.finditer(text):
        yield match.group()


def answer(messages: Messages, model: str = MODEL) -> str:
    """The assistant's whole answer to a (validated) conversation."""
    user_turns = [message["content"] for message in messages if message["role"] == "user"]
    question = user_turns[-1] if user_turns else ""
    note = model_note(model) if model != MODEL else ""
    kind = _small_talk(question)
    if kind == "thanks":
        return THANKS
    if kind == "greeting":
        return GREETING + note
    index = load_index()
    matches = _rank(index, user_turns, _cited(messages))
    if not matches:
        return NO_MATCH + note
    passages = [index.sections[match.section] for match in matches]
    body = "\n\n".join(f"### {passage.title}\n\n{passage.text}" for passage in passages)
    sources = "; ".join(passage.label for passage in passages)
    return f"{body}\n\n{_SOURCES_PREFIX}{sources}\n"


def _small_talk(question: str) -> str | None:
    words = _WORDS.findall(question.lower())
    phrase = " ".join(words)
    if not words or phrase in _ABOUT_YOU:
        return "greeting"
    if phrase in _THANKS:
        return "thanks"
    if len(words) <= 6 and _GREETING_WORDS & set(words) and set(words) <= _SMALL_TALK:
        return "greeting"
    return None


def _rank(index: DocsIndex, user_turns: list[str], cited: set[str]) -> list[Match]:
    """The passages to answer with, best first (empty when nothing is relevant)."""
    idf = index.search.idf
    turns = [terms(turn) for turn in user_turns]
    focus = turns[-1] if turns else []
    # A follow-up with no searchable word ("tell me more") asks about the
    # previous question again; cited sections then make way for new ones.
    position = len(turns) - 1
    while position > 0 and not any(term in idf for term in focus):
        position -= 1
        focus = turns[position]
    weights: dict[str, float] = {}
    for distance, turn_terms in enumerate(reversed(turns[:position])):
        weight = HISTORY_WEIGHT / 2**distance
        for term in turn_terms:
            weights[term] = max(weights.get(term, 0.0), weight)
    for term in focus:
        weights[term] = 1.0
    focus_set = set(focus)
    matches = []
    for match in index.search.search(weights, focus):
        section = index.sections[match.section]
        factor = CITED_PENALTY if section.label in cited else 1.0
        if section.title_terms and section.title_terms <= focus_set:
            factor *= TITLE_MATCH_BOOST
        if section.source in OVERVIEW_SOURCES:
            factor *= OVERVIEW_FACTOR
        matches.append(Match(match.section, match.score * factor, match.coverage, match.strength))
    matches.sort(key=lambda match: (-match.score, match.section))
    relevant = [m for m in matches if m.coverage >= MIN_COVERAGE and m.strength >= MIN_STRENGTH]
    if not relevant:
        return []
    chosen = [relevant[0]]
    words = len(index.sections[relevant[0].section].text.split())
    for match in relevant[1 : MAX_PASSAGES * 3]:
        if len(chosen) == MAX_PASSAGES or match.score < RELATED_RATIO * relevant[0].score:
            break
        length = len(index.sections[match.section].text.split())
        if words + length <= WORD_BUDGET:
            chosen.append(match)
            words += length
    return chosen


def _cited(messages: Messages) -> set[str]:
    """Section labels the assistant already cited in this conversation."""
    cited: set[str] = set()
    for message in messages:
        if message["role"] != "assistant":
            continue
        for line in message["content"].splitlines():
            if line.startswith(_SOURCES_PREFIX):
                cited.update(label.strip() for label in line[len(_SOURCES_PREFIX) :].split(";"))
    return cited
