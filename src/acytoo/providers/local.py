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
from typing import Any, ClassVar

from .._base_errors import InvalidRequestError
from .._types import AsyncResult, Messages
from .._validation import check_model, check_temperature, validate_messages
from ._bm25 import Match, SearchIndex, terms
from ._local_text import GREETING, NO_MATCH, THANKS, cannot_do, model_note
from ._passages import most_relevant_first
from ._query import Group, intents, query_groups, split_parts, task_request
from .base import AsyncGeneratorProvider

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
# A section whose whole title, or one of its aliases, is in the question
# ("rate limit" -> "Rate limiting") is what the question names; BM25 alone cannot tell it from a
# longer section using the same words, notably for words found everywhere.
TITLE_MATCH_BOOST = 1.25
# The README summarises what the docs pages explain in full: on a near tie,
# the page is the better answer.
OVERVIEW_FACTOR = 0.8
OVERVIEW_SOURCES = frozenset({"README.md"})
# A question that names its audience ("with the CLI", "in python") prefers
# the sections written for it over the same topic for another audience
# (`--proxy` rather than `proxy=`); sections for everyone are left alone.
INTENT_BOOST = 1.4
OFF_INTENT_FACTOR = 0.6
# A question that names no audience, answered from one audience's page
# ("set a timeout": the library's `timeout=`), also gets the best section for
# another audience (the CLI's `--timeout`) when it scores this close.
OTHER_AUDIENCE_RATIO = 0.4
# "How do I ..." asks how to do something, which troubleshooting pages (what
# an error means, what to do about it) and the security overview (why each
# default is what it is) answer less well than the page that explains the
# feature; a question that quotes an error gets no such factor.
HOW_TO_TROUBLESHOOTING_FACTOR = 0.8
TROUBLESHOOTING_SOURCES = frozenset({"docs/troubleshooting.md", "docs/security.md"})
_HOW_TO = re.compile(
    r"^\W*(?:(?:hi|hello|hey|ok|so|and)\W+)?(?:how (?:do|can|could|should|would) (?:i|we|you|one)"
    r"|how to|is there a way|can i|could i)\b",
    re.IGNORECASE,
)
_MENTIONS_ERROR = re.compile(
    r"\b(?:error|errors|fails?|failed|failing|warning|traceback|\d{3})\b|[a-z]Error\b", re.I
)
# At most this many parts of a multi-part question get their own passage.
MAX_PARTS = 3

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
_LEADING_GREETING = re.compile(
    r"^\W*(?:hello|hi|hey|hiya|howdy|greetings|good (?:morning|afternoon|evening))\b[\s,!.;:-]*",
    re.IGNORECASE,
)
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
    kind: str = ""
    """The audience it is written for: ``cli``, ``server``, ``library`` or ``""`` (everyone)."""
    names: tuple[frozenset[str], ...] = ()
    """The terms of its heading and of each of its aliases (``scripts/docs_index/aliases.py``)."""

    @property
    def title(self) -> str:
        return self.path[-1]

    @property
    def label(self) -> str:
        return f"{self.source} § {self.title}"


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
            DocSection(source, anchor, tuple(path), text, kind, tuple(frozenset(n) for n in names))
            for (source, anchor, path, text), kind, names in zip(
                data["sections"], data["kinds"], data["names"], strict=True
            )
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
        check_model(model)
        validate_messages(messages)
        if "temperature" in options:
            check_temperature(options["temperature"])
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
    task = task_request(question)
    if task is not None:
        return cannot_do(task) + note
    # "Hello, how do I ...": the greeting is not part of the question (the docs'
    # examples say "Hello" everywhere, so it would pull them up).
    question = _LEADING_GREETING.sub("", question, count=1) or question
    user_turns[-1:] = [question] if user_turns else []
    index = load_index()
    cited = _cited(messages)
    parts = split_parts(question)[:MAX_PARTS]
    if len(parts) > 1:
        matches = _rank_parts(index, user_turns[:-1], parts, cited)
    else:
        matches = _rank(index, user_turns, cited)
    if not matches:
        return NO_MATCH + note
    focus = _focus_groups(index, user_turns)
    passages = [index.sections[match.section] for match in matches]
    body = "\n\n".join(
        f"### {passage.title}\n\n{most_relevant_first(passage.text, focus)}" for passage in passages
    )
    sources = "; ".join(passage.label for passage in passages)
    return f"{body}\n\n{_SOURCES_PREFIX}{sources}\n"


def _rank_parts(
    index: DocsIndex, history: list[str], parts: list[str], cited: set[str]
) -> list[Match]:
    """The best passage for each part of a multi-part question, in the parts' order."""
    whole = " ".join(parts)
    chosen: list[Match] = []
    for part in parts:
        # "How do I use a proxy in python and how do I disable retries?": the
        # second part is about the library too.
        audience = intents(part) or intents(whole)
        found = _rank(index, [*history, part], cited, audience)
        fresh = [match for match in found if match.section not in {m.section for m in chosen}]
        if fresh:
            chosen.append(fresh[0])
    return chosen


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


def _focus_position(index: DocsIndex, user_turns: list[str]) -> int:
    """Which user turn is the question: the last one with a searchable word.

    A follow-up with no searchable word ("tell me more") asks about the
    previous question again; cited sections then make way for new ones.
    """
    idf = index.search.idf
    position = len(user_turns) - 1
    while position > 0 and not any(term in idf for term in terms(user_turns[position])):
        position -= 1
    return position


def _focus_groups(index: DocsIndex, user_turns: list[str]) -> list[Group]:
    if not user_turns:
        return []
    return query_groups(user_turns[_focus_position(index, user_turns)])


def _rank(
    index: DocsIndex,
    user_turns: list[str],
    cited: set[str],
    audience: frozenset[str] | None = None,
) -> list[Match]:
    """The passages to answer with, best first (empty when nothing is relevant)."""
    if not user_turns:
        return []
    position = _focus_position(index, user_turns)
    focus = query_groups(user_turns[position])
    words = {group.word for group in focus}
    groups = [(group.terms, group.specific) for group in focus]
    # Earlier user turns are context: weaker, and never required.
    for distance, turn in enumerate(reversed(user_turns[:position])):
        weight = HISTORY_WEIGHT / 2**distance
        for group in query_groups(turn, weight):
            if group.word not in words:
                words.add(group.word)
                groups.append((group.terms, False))
    if audience is None:
        audience = intents(user_turns[position])
        if not audience and position > 0:
            audience = intents(" ".join(user_turns[:position]))
    focus_terms = {term for group in focus for term in group.terms}
    question = user_turns[position]
    how_to = _HOW_TO.match(question) is not None and not _MENTIONS_ERROR.search(question)
    matches = []
    for match in index.search.search_groups(groups):
        section = index.sections[match.section]
        factor = CITED_PENALTY if section.label in cited else 1.0
        named = _name_factor(section, focus_terms)
        factor *= named
        if section.source in OVERVIEW_SOURCES and not any(
            len(name) > 1 and name <= focus_terms for name in section.names
        ):
            # Unless the question names it ("run tests": Development): then
            # the summary is what was asked for. One word ("acytoo") is no name.
            factor *= OVERVIEW_FACTOR
        if how_to and section.source in TROUBLESHOOTING_SOURCES:
            factor *= HOW_TO_TROUBLESHOOTING_FACTOR
        if audience and section.kind:
            factor *= INTENT_BOOST if section.kind in audience else OFF_INTENT_FACTOR
        matches.append(Match(match.section, match.score * factor, match.coverage, match.strength))
    matches.sort(key=lambda match: (-match.score, match.section))
    relevant = [m for m in matches if m.coverage >= MIN_COVERAGE and m.strength >= MIN_STRENGTH]
    if position < len(user_turns) - 1:
        # "Tell me more": what was already quoted is not more.
        fresh = [m for m in relevant if index.sections[m.section].label not in cited]
        relevant = fresh or relevant
    if not relevant:
        return []
    chosen = [relevant[0]]
    first_kind = index.sections[relevant[0].section].kind
    if not audience and first_kind:
        others = [
            match
            for match in relevant[1:]
            if index.sections[match.section].kind not in {"", first_kind}
        ]
        # The command line's answer first (`--timeout` next to `timeout=`): a
        # server page about the same word is rarely what was meant.
        other = next(
            (match for match in others if index.sections[match.section].kind == "cli"),
            others[0] if others else None,
        )
        if other is not None and other.score >= OTHER_AUDIENCE_RATIO * relevant[0].score:
            chosen.append(other)
    length = sum(len(index.sections[match.section].text.split()) for match in chosen)
    for match in relevant[1 : MAX_PASSAGES * 3]:
        if match in chosen:
            continue
        if len(chosen) == MAX_PASSAGES or match.score < RELATED_RATIO * relevant[0].score:
            break
        extra = len(index.sections[match.section].text.split())
        if length + extra <= WORD_BUDGET:
            chosen.append(match)
            length += extra
    return chosen


def _name_factor(section: DocSection, focus_terms: set[str]) -> float:
    """How much the question names the section: its heading or an alias, in whole or in part.

    A whole name in the question gives :data:`TITLE_MATCH_BOOST`; most of a
    long heading ("The answer comes from the offline assistant instead of my
    model") nearly as much, a word or two of it little.
    """
    best = 0.0
    for name in section.names:
        share = len(name & focus_terms) / len(name)
        best = max(best, share * share)
    return 1.0 + (TITLE_MATCH_BOOST - 1.0) * best


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
