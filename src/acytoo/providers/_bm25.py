"""Okapi BM25 over documentation sections: tokeniser, stemmer, index builder, search.

The index is built once, at build time (``scripts/build_docs_index.py``), and
stored with every term's BM25 weight per section already computed, so a query
is only a few dictionary lookups and additions. The tokeniser and stemmer are
shared by both sides: the same function turns a section and a question into
terms, which is all a stemmer has to guarantee.

Scoring, for a section ``d`` and a query term ``t`` with weight ``q``::

    idf(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))        (never negative)
    w(t, d)  = idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avglen))
    score(d) = sum over query terms of q * w(t, d)

``tf`` counts the term in the section's text plus its heading path, the
section's own heading counting :data:`HEADING_BOOST` times and the headings
above it :data:`PARENT_HEADING_BOOST` times: a section titled "Proxies" is
about proxies even if the word appears only twice in its text. A flag the
section defines (``| `--timeout N` |`` in a table, or a list item) counts :data:`FLAG_BOOST` more times, and the
section's aliases (the words users say for it, see ``scripts/docs_index/aliases.py``)
:data:`ALIAS_BOOST` times.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ALIAS_BOOST",
    "FLAG_BOOST",
    "HEADING_BOOST",
    "K1",
    "PARENT_HEADING_BOOST",
    "STOP_WORDS",
    "B",
    "Match",
    "SearchIndex",
    "build_postings",
    "stem",
    "terms",
]

K1 = 1.2
B = 0.75
HEADING_BOOST = 5
PARENT_HEADING_BOOST = 1
FLAG_BOOST = 5
ALIAS_BOOST = 2
_WEIGHT_DIGITS = 4

# Function words and question scaffolding: they say nothing about which
# section answers the question ("how do I ...", "what does ... mean").
STOP_WORDS = frozenset(
    str.split(
        """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each either else etc even ever every few for from further get gets getting
    got had has have having he her here hers herself him himself his how i if in into is isn it
    its itself just let lets like may me might more most much must my myself need needs no nor
    not now of off on once one only or other ought our ours ourselves out over own per please
    same shall she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up upon us use used uses using very via
    want wants was wasn way we were weren what when where whether which while who whom whose
    why will with within without won would yes yet you your yours yourself yourselves
    tell show explain know work works available possible anything something everything thing
    things really actually exactly kind sort give make
    """
    )
)

_WORD = re.compile(r"[a-z0-9]+")
# Identifiers such as ACYTOO_URL, config.toml, gpt-3.5-turbo, --no-stream: kept whole
# as well as split, so asking for the exact name finds the section that uses it.
_COMPOUND = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)+")
_LETTERS_THEN_DIGITS = re.compile(r"([a-z]{3,})[0-9]+")
_DOUBLED = re.compile(r"([bdfgkmnprt])\1$")
_VOWEL = re.compile(r"[aeiouy]")
# Where a flag is defined rather than mentioned: the first cell of a table
# row or the start of a list item ("| `-t`, `--timeout N` |", "- `--proxy URL`").
_DEFINITION = re.compile(r"^[ \t]*(?:\|([^|\n]*)\||[-*][ \t]+`([^`\n]*)`)", re.MULTILINE)
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)")


def stem(word: str) -> str:
    """A light English suffix stripper (plurals, -ing, -ed, -ly, -ation, final e).

    It need not produce real words, only the same stem for the forms a user
    and the docs are likely to use: proxy/proxies, retry/retries/retried/
    retrying, configure/configured/configuration, cancel/cancellation.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith(("ies", "ied")) and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "ches", "shes", "xes", "zes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("bility"):
        word = word[:-6] + "ble"  # compatibility -> compatible
    elif word.endswith("ction") and len(word) > 6:
        word = word[:-3]  # connection -> connect, protection -> protect
    for suffix in ("ations", "ation", "ing", "ed", "ly"):
        if word.endswith(suffix):
            base = word[: -len(suffix)]
            if len(base) >= 3 and _VOWEL.search(base):
                word = _DOUBLED.sub(r"\1", base)
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if word.endswith("ll"):
        # cancel/cancelled/cancellation, install/installed/installing.
        word = word[:-1]
    return word


def terms(text: str) -> list[str]:
    """The index terms of ``text``: lower-cased words minus stop words, stemmed, plus compounds."""
    lowered = text.lower()
    result: list[str] = []
    for word in _WORD.findall(lowered):
        if word in STOP_WORDS:
            continue
        result.append(stem(word))
        split = _LETTERS_THEN_DIGITS.fullmatch(word)
        if split:
            result.append(stem(split.group(1)))
    result.extend(compound.strip("._-") for compound in _COMPOUND.findall(lowered))
    return result


def build_postings(
    documents: Sequence[tuple[str, Sequence[str], str]],
    aliases: Sequence[str] | None = None,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Precompute BM25 weights for ``documents`` given as ``(text, parent_headings, heading)``.

    ``aliases`` (one string per document, optional) are other words for what
    the document is about. Returns ``(idf, postings)``: the IDF of every term,
    and for every term a flat list ``[doc, weight, doc, weight, ...]`` in
    document order.
    """
    counts: list[Counter[str]] = []
    for position, (text, parents, heading) in enumerate(documents):
        counter = Counter(terms(text))
        for _ in range(HEADING_BOOST):
            counter.update(terms(heading))
        for _ in range(PARENT_HEADING_BOOST):
            for parent in parents:
                counter.update(terms(parent))
        defined = " ".join("".join(cells) for cells in _DEFINITION.findall(text.lower()))
        for flag in dict.fromkeys(_FLAG.findall(defined)):
            for _ in range(FLAG_BOOST):
                counter.update(terms(flag.replace("-", " ")))
        if aliases is not None and aliases[position]:
            for _ in range(ALIAS_BOOST):
                counter.update(terms(aliases[position]))
        counts.append(counter)
    total = len(counts)
    lengths = [sum(counter.values()) for counter in counts]
    average = (sum(lengths) / total) if total else 1.0
    document_frequency: Counter[str] = Counter()
    for counter in counts:
        document_frequency.update(counter.keys())
    idf = {
        term: round(smoothed_idf(total, df), _WEIGHT_DIGITS)
        for term, df in sorted(document_frequency.items())
    }
    postings: dict[str, list[float]] = {term: [] for term in idf}
    for index, counter in enumerate(counts):
        norm = K1 * (1.0 - B + B * lengths[index] / average)
        for term, tf in sorted(counter.items()):
            weight = idf[term] * tf * (K1 + 1.0) / (tf + norm)
            postings[term].extend((index, round(weight, _WEIGHT_DIGITS)))
    return idf, postings


def smoothed_idf(total: int, df: int) -> float:
    """BM25's IDF with the +1 inside the logarithm, so common terms never count negatively."""
    return math.log(1.0 + (total - df + 0.5) / (df + 0.5))


@dataclass(frozen=True)
class Match:
    """A section's score for a query, and two measures of relevance from 0 to 1.

    ``coverage`` is the share of the question's IDF mass the section contains;
    ``strength`` is the score as a share of the highest score the question's
    words could reach (each occurring very often in a short section).
    """

    section: int
    score: float
    coverage: float
    strength: float


class SearchIndex:
    """Precomputed BM25 postings, queried with weighted terms."""

    def __init__(
        self, total: int, idf: Mapping[str, float], postings: Mapping[str, Sequence[float]]
    ) -> None:
        self.total = total
        self.idf = idf
        self.postings = postings
        # An unknown word is as specific as a word can be: it counts fully
        # against coverage, so "python snake" does not match on "python".
        self.unknown_idf = smoothed_idf(total, 0)

    def search(self, query: Mapping[str, float], focus: Iterable[str]) -> list[Match]:
        """Sections scored for ``query`` (term -> weight), best first, ties in document order.

        ``coverage`` is the share of the IDF mass of the ``focus`` terms (the
        question actually asked) that the section contains.
        """
        scores: dict[int, float] = {}
        covered: dict[int, float] = {}
        focus_terms = set(focus)
        focus_mass = sum(self.idf.get(term, self.unknown_idf) for term in focus_terms)
        ceiling = (K1 + 1.0) * sum(self.idf.get(term, 0.0) for term in focus_terms)
        for term, query_weight in query.items():
            posting = self.postings.get(term)
            if not posting:
                continue
            in_focus = term in focus_terms
            term_idf = self.idf[term]
            for position in range(0, len(posting), 2):
                section = int(posting[position])
                scores[section] = scores.get(section, 0.0) + query_weight * posting[position + 1]
                if in_focus:
                    covered[section] = covered.get(section, 0.0) + term_idf
        matches = [
            Match(
                section,
                score,
                covered.get(section, 0.0) / focus_mass if focus_mass else 0.0,
                score / ceiling if ceiling else 0.0,
            )
            for section, score in scores.items()
        ]
        matches.sort(key=lambda match: (-match.score, match.section))
        return matches

    def search_groups(self, groups: Sequence[tuple[Mapping[str, float], bool]]) -> list[Match]:
        """Sections scored for term ``groups``, best first, ties in document order.

        Each group is ``(terms, specific)``: a word of the question and its
        synonyms, each term with its query weight. A group adds the best of its
        terms' weighted scores to a section (a synonym never counts twice), and
        ``coverage`` is the share of the *specific* groups' IDF mass (a group's
        IDF is its best-known term's) that a section contains.
        """
        scores: dict[int, float] = {}
        covered: dict[int, float] = {}
        mass = 0.0
        ceiling = 0.0
        for members, specific in groups:
            best: dict[int, float] = {}
            known = [self.idf[term] for term in members if term in self.idf]
            # An unknown word is as specific as a word can be: it counts fully
            # against coverage, so "python snake" does not match on "python".
            group_mass = self.idf.get(next(iter(members)), max(known, default=self.unknown_idf))
            if specific:
                mass += group_mass
                ceiling += (K1 + 1.0) * max(known, default=0.0)
            for term, weight in members.items():
                posting = self.postings.get(term)
                if not posting:
                    continue
                for position in range(0, len(posting), 2):
                    section = int(posting[position])
                    value = weight * posting[position + 1]
                    if value > best.get(section, 0.0):
                        best[section] = value
            for section, value in best.items():
                scores[section] = scores.get(section, 0.0) + value
                if specific:
                    covered[section] = covered.get(section, 0.0) + group_mass
        matches = [
            Match(
                section,
                score,
                min(1.0, covered.get(section, 0.0) / mass) if mass else 0.0,
                score / ceiling if ceiling else 0.0,
            )
            for section, score in scores.items()
        ]
        matches.sort(key=lambda match: (-match.score, match.section))
        return matches
