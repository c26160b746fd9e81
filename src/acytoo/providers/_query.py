"""Reading a user's question for the offline assistant: parts, intent, synonyms, tasks.

Users ask in their own words ("How do I enable rate limiting?", "turn off
retries", "my old chats"), the documentation uses its own ("Rate limiting",
"disable", "history"). This module turns a question into weighted groups of
index terms that BM25 (:mod:`._bm25`) scores:

- every specific word is one group, together with the documentation's words
  for the same idea (:func:`synonyms`), so "exceptions" finds "errors";
- scaffolding verbs ("enable", "change", "put") and words that only say
  *where* the user works ("python", "terminal") are weak: they help to rank
  but never make a section irrelevant by being absent from it;
- those "where" words are the question's intent (the command line, the
  server or the library), which steers between sections that answer the same
  question for different audiences (``--proxy`` or ``proxy=``);
- a question made of several questions is split into its parts, so each part
  gets its own answer;
- a request to *do* something with a text ("review this", "summarize") is
  recognised, since the assistant can only quote the documentation.

Everything here is plain dictionaries, sets and string operations (one
regular expression, for the parts): a question is analysed in microseconds,
importing this module costs about a millisecond, and the same question always
gives the same result.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ._bm25 import stem, terms

__all__ = [
    "INTENTS",
    "Group",
    "intents",
    "query_groups",
    "split_parts",
    "synonyms",
    "task_request",
]

INTENTS = ("cli", "server", "library")

# Words a user adds to say where they work. They steer the ranking towards
# sections for that audience and are weak query terms, not topics.
_INTENT_WORDS = {
    "cli": (
        "cli",
        "command line",
        "command-line",
        "commandline",
        "terminal",
        "shell",
        "console",
        "acytoo chat",
        "acytoo logs",
        "acytoo models",
        "flag",
        "flags",
        "bash",
        "zsh",
    ),
    "server": (
        "server",
        "acytoo serve",
        "serve",
        "self-host",
        "self-hosted",
        "self host",
        "deploy",
        "deployment",
        "upstream",
        "upstreams",
    ),
    "library": (
        "python",
        "library",
        "my code",
        "python code",
        "in code",
        "script",
        "scripts",
        "async",
        "asyncio",
        "await",
        "import",
        "programmatically",
        "create_async_generator",
        "create_async",
        "create_completion",
        "provider",
        "providers",
    ),
}
# Words that say little about the topic: scaffolding verbs and vague
# quantities. They rank but never decide whether a section is relevant.
_WEAK_WORDS = frozenset(
    stem(word)
    for word in str.split(
        """
    put set change enable enabled turn switch pick choose different give pass press point
    check many each add find see go try own able new good best right way ways happen happens
    happening tell ask say mean means meaning run running start acytoo chat chats answer
    answers question questions command commands another talk talking output instead
    whole thing stuff people person anyone someone somebody everybody everyone user users
    somewhere anywhere fix solve resolve thanks thank cheers"""
    )
)
# The documentation's words for what users say. Keys and values are words
# (stemmed when used); a value is added to the key's group, so a section that
# uses either word covers the question's word.
_SYNONYM_WORDS = {
    "quit": "exit leave",
    "sent": "send",
    "computer": "machine",
    "computers": "machines",
    "machine": "host",
    "pc": "machine",
    "run": "start launch",
    "launch": "start run",
    "close": "exit leave",
    "leave": "exit",
    "newline": "new line multi-line",
    "multiline": "multi-line new line",
    "old": "history previous original",
    "past": "history previous",
    "previous": "latest last history",
    "saved": "record recorded history",
    "save": "record recorded history",
    "saving": "record recorded history",
    "store": "stored record",
    "remember": "history record",
    "log": "history record",
    "chat": "conversation",
    "chats": "conversation conversations",
    "conversation": "chat",
    "reachable": "machines interfaces host",
    "remote": "machines host interfaces",
    "expose": "host interfaces",
    "bind": "host listen",
    "listen": "host bind",
    "forward": "upstream relay backend",
    "backend": "upstream",
    "cleanly": "graceful",
    "gracefully": "graceful",
    "safely": "graceful",
    "kill": "sigterm stop",
    "big": "size limit large",
    "size": "limit large",
    "large": "size limit",
    "huge": "size large",
    "healthy": "healthz",
    "health": "healthz",
    "alive": "healthz",
    "exception": "error errors",
    "exceptions": "errors error",
    "raise": "error",
    "catch": "error except",
    "fallback": "failover retryprovider",
    "methods": "contract",
    "method": "contract",
    "interface": "contract",
    "kwargs": "options option",
    "parameters": "options option",
    "parameter": "options option",
    "arguments": "options option",
    "argument": "options option",
    "site": "service",
    "website": "service",
    "weird": "strange",
    "garbled": "strange",
    "broken": "strange",
    "halfway": "middle stops incomplete",
    "truncated": "incomplete stops middle",
    "incomplete": "stops middle",
    "refused": "connect connecterror",
    "unreachable": "connect connecterror",
    "sync": "synchronous",
    "synchronously": "synchronous",
    "blocking": "synchronous",
    "notebook": "jupyter",
    "ipython": "jupyter",
    "throttle": "rate limit",
    "throttling": "rate limit",
    "two": "several",
    "multiple": "several",
    "simultaneously": "same time several",
    "concurrently": "same time several",
    "auth": "password key",
    "authentication": "password key",
    "token": "key",
    "secure": "password protect",
    "protect": "password",
    "endpoint": "endpoints",
    "routes": "endpoints",
    "url": "address",
    "address": "url",
    "where": "url",
    "stdin": "piping",
    "pipe": "piping stdin",
    "tests": "test suite",
    "debug": "traceback",
    "stacktrace": "traceback",
    "traceback": "debug",
    "proxy": "proxies",
    "socks": "socks5",
    "version": "versions",
    "installed": "version",
    "download": "install",
    "setup": "install",
    "history": "logs",
    "export": "json",
    "limit": "limiting",
    "tokens": "max_tokens",
    "license": "licence",
    "offline": "local",
    "real": "ai model",
    "ai": "model",
    "old-style": "original",
    "gpt4free": "g4f",
    "g4f": "gpt4free",
}
# Phrases first: "turn off" is one idea, and so is "fall back". Matched as
# whole words in the question with punctuation turned to spaces (plain string
# operations: compiling a regular expression per phrase cost milliseconds at
# every cold start).
_PHRASES = (
    ("disable", "turn off|turns off|turning off|switch off|switches off|get rid of"),
    ("enable", "turn on|turns on|turning on|switch on|switches on"),
    ("failover", "fall back|falls back|falling back|fallback|fall-back"),
    ("stop shutdown", "shut down|shuts down|shutting down|shutdown|shut it down"),
    ("stop shutdown", "shut the server down|shut my server down|shut acytoo down"),
    ("stops", "cut off|cut short|breaks off|break off|stops halfway|stops early"),
    ("synchronous", "without async|without asyncio|without await|non-async|nonasync|not async"),
    ("newline", "new line|new-line"),
    ("simultaneously", "at the same time|at once"),
    ("429 rate limited", "too many requests"),
    ("refused", "connection refused|cannot connect|can't connect|cant connect"),
    ("healthy", "is up|it's up|is running|it's running"),
    ("traceback", "stack trace|stacktrace"),
    ("ctrl-c interrupt", "ctrl-c|ctrl+c|ctrl c|^c"),
    ("key api", "api key|api keys|api-key|api-keys|apikey"),
)
_PHRASE_TABLE = tuple(
    (f" {phrase} ", f" {replacement} ")
    for replacement, phrases in _PHRASES
    for phrase in phrases.split("|")
)
# Punctuation between words; a dot or slash inside a name (config.toml) stays.
_PUNCTUATION = str.maketrans({c: " " for c in '?!,;:()[]{}"\\'})


def _normalized(text: str) -> str:
    """``text`` lower-cased, punctuation between words made spaces, padded with spaces."""
    spaced = f" {text.lower().translate(_PUNCTUATION)} ".replace(". ", " ")
    return f" {' '.join(spaced.split())} "


# Stemmed word -> the documentation's words for it. Only the keys are stemmed
# here; a word's synonyms are turned into terms the first time it is asked
# about (see synonyms), which keeps this module quick to import.
_SYNONYM_SOURCES: dict[str, str] = {}
for _word, _alternatives in _SYNONYM_WORDS.items():
    _key = stem(_word)
    _SYNONYM_SOURCES[_key] = f"{_SYNONYM_SOURCES.get(_key, '')} {_alternatives}".strip()


@functools.cache
def synonyms(term: str) -> tuple[str, ...]:
    """The index terms the documentation uses for ``term`` (a stemmed word)."""
    source = _SYNONYM_SOURCES.get(term)
    if source is None:
        return ()
    return tuple(dict.fromkeys(t for t in terms(source) if t != term))


# Weak words still rank, a little.
WEAK_WEIGHT = 0.25
# A synonym counts a little less than the word the user wrote.
SYNONYM_WEIGHT = 0.7

# Single intent words are looked up in the question's words, phrases
# ("command line") in its padded text: both plain string operations.
_INTENT_SINGLE = {
    intent: frozenset(w for w in words if " " not in w) for intent, words in _INTENT_WORDS.items()
}
_INTENT_PHRASES = {
    intent: tuple(f" {w} " for w in words if " " in w) for intent, words in _INTENT_WORDS.items()
}
# Of those, the words that say only where the user works, never what about.
_INTENT_TERMS = frozenset(
    terms(
        "cli command line commandline terminal shell console bash zsh python library code"
        " script scripts programmatically"
    )
)

# "How do I run the server? And how do I set a password?", "... and how do
# I ...", "...; also ...": the places where one question ends and the next begins.
_QUESTION_WORD = (
    r"(?:how|what|where|which|why|when|who|can|could|does|do|is|are|should|will|would|"
    r"also|and)"
)
_PART_BREAK = re.compile(
    r"(?<=[?!;])\s+(?=\S)|(?<=\.)\s+(?=\S)|,?\s+(?:and|also|plus)\s+(?=(?:"
    + _QUESTION_WORD
    + r")\b)",
    re.IGNORECASE,
)
# Requests to do something with a text, which needs a language model:
# optional politeness, a verb, then what it acts on ("review this").
_TASK_FILLERS = frozenset(
    {"please", "pls", "hey", "ok", "okay", "can", "could", "would", "will", "you"}
)
_TASK_VERBS = frozenset(
    str.split(
        """review summarize summarise translate rewrite re-write refactor proofread rephrase
        paraphrase critique improve fix correct shorten analyse analyze explain write generate
        compose draft complete debug optimise optimize convert tldr tl;dr"""
    )
)
_TASK_TWO_WORD_VERBS = {("summary", "of"): "summary of", ("comment", "on"): "comment on"}
_TASK_OBJECTS = frozenset({"this", "that", "these", "those", "it", "following", "my"})
_TASK_THE_OBJECTS = frozenset(
    str.split(
        "following code diff text file function patch output log email letter article essay "
        "paragraph"
    )
)
_TASK_A_OBJECTS = frozenset(
    str.split("poem story function program script essay email letter summary code haiku song")
)
_ABOUT_ACYTOO = frozenset({"error", "exit", "warning", "message", "option", "flag", "setting"})
_TASK_NAMES = {
    "review": "review code",
    "critique": "review code",
    "comment on": "review code",
    "fix": "fix code",
    "debug": "fix code",
    "refactor": "rewrite code",
    "optimise": "rewrite code",
    "optimize": "rewrite code",
    "summarise": "summarize text",
    "summarize": "summarize text",
    "summary of": "summarize text",
    "tldr": "summarize text",
    "translate": "translate text",
    "explain": "explain a text",
    "analyse": "analyse a text",
    "analyze": "analyse a text",
}


@dataclass(frozen=True)
class Group:
    """One idea of the question: a word and the documentation's words for it.

    ``terms`` maps each index term to its query weight; ``specific`` groups
    decide relevance (coverage), weak ones only add to the score.
    """

    word: str
    terms: dict[str, float]
    specific: bool


def intents(question: str) -> frozenset[str]:
    """Which audiences the question names: ``cli``, ``server``, ``library`` (maybe none)."""
    padded = _normalized(question)
    words = set(padded.split())
    found = {
        intent
        for intent in INTENTS
        if words & _INTENT_SINGLE[intent] or any(p in padded for p in _INTENT_PHRASES[intent])
    }
    # A flag (``--timeout``, ``-m``) is a question about the command line.
    if any(word.startswith("-") and word.strip("-")[:1].isalpha() for word in words):
        found.add("cli")
    return frozenset(found)


def _rewrite(question: str) -> str:
    padded = _normalized(question)
    for phrase, replacement in _PHRASE_TABLE:
        if phrase in padded:
            padded = padded.replace(phrase, replacement)
    return padded


def query_groups(question: str, weight: float = 1.0) -> list[Group]:
    """The question's terms in groups, each with its synonyms, weighted by ``weight``."""
    groups: dict[str, Group] = {}
    found = terms(_rewrite(question))
    weak_only = all(term in _WEAK_WORDS or term in _INTENT_TERMS for term in found)
    for term in found:
        if term in groups:
            continue
        weak = not weak_only and (term in _WEAK_WORDS or term in _INTENT_TERMS)
        base = weight * (WEAK_WEIGHT if weak else 1.0)
        members = {term: base}
        for synonym in synonyms(term):
            members.setdefault(synonym, base * SYNONYM_WEIGHT)
        groups[term] = Group(term, members, not weak)
    return list(groups.values())


def split_parts(question: str) -> list[str]:
    """The separate questions in ``question`` (one item when it asks one thing)."""
    parts = [part.strip() for part in _PART_BREAK.split(question.strip()) if part and part.strip()]
    merged: list[str] = []
    for part in parts:
        # A part with nothing to search for ("thanks!", "and?") belongs to its neighbour.
        if merged and not any(term not in _WEAK_WORDS for term in terms(part)):
            merged[-1] = f"{merged[-1]} {part}"
        elif not merged or any(term not in _WEAK_WORDS for term in terms(merged[-1])):
            merged.append(part)
        else:
            merged[-1] = f"{merged[-1]} {part}"
    return merged or [question]


def task_request(message: str) -> str | None:
    """What the message asks to be done to a text ("review code"), or ``None`` for a question.

    Only the first line counts: piped input (``git diff | acytoo chat
    "review this"``) follows the instruction, and its words are no question.
    """
    first = message.strip().split("\n", 1)[0].lower()
    words = [word.strip(",.!?:;'\"()") for word in first.split()]
    words = [word for word in words if word]
    while words and words[0] in _TASK_FILLERS:
        words.pop(0)
    if not words:
        return None
    verb = _TASK_TWO_WORD_VERBS.get((words[0], words[1] if len(words) > 1 else ""))
    if verb is not None:
        rest = words[2:]
    elif words[0] in _TASK_VERBS:
        verb, rest = words[0], words[1:]
    else:
        return None
    if rest[:1] == ["me"]:
        rest = rest[1:]
    pasted = "\n" in message.strip()
    head = rest[:1]
    has_object = (
        bool(set(head) & _TASK_OBJECTS)
        or (head == ["the"] and bool(set(rest[1:2]) & _TASK_THE_OBJECTS))
        or (head[:1] in (["a"], ["an"]) and bool(set(rest[1:3]) & _TASK_A_OBJECTS))
    )
    if not (has_object or pasted or not rest):
        # "explain exit code 3", "fix the ProxyError": questions about acytoo.
        return None
    # "explain this error" about acytoo is still a question for the docs,
    # unless a text to work on came with it.
    if (
        verb in {"explain", "fix", "debug", "complete", "convert", "correct"}
        and not pasted
        and (not set(head) & _TASK_OBJECTS or set(rest) & _ABOUT_ACYTOO)
    ):
        return None
    if verb in {"write", "generate", "compose", "draft"}:
        return "write text"
    return _TASK_NAMES.get(verb.replace(";", ""), f"{verb} text")
