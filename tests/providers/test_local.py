"""The offline documentation assistant: index, ranking, answers, streaming, contract."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from docs_index.build import (
    INDEX_PATH,
    build_index,
    corpus_files,
    dumps_index,
    rebase_links,
)
from docs_index.markdown import slugify, split_sections
from hypothesis import given
from hypothesis import strategies as st

import acytoo
from acytoo import InvalidRequestError, Local
from acytoo.providers import _local_text
from acytoo.providers._bm25 import K1, B, SearchIndex, build_postings, stem, terms
from acytoo.providers.local import MODEL, _rank, answer, iter_chunks, load_index

ROOT = Path(__file__).resolve().parents[2]


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def conversation(*turns: str) -> list[Any]:
    """Alternating user/assistant turns, starting and ending with the user."""
    roles = ["user", "assistant"]
    return [{"role": roles[i % 2], "content": text} for i, text in enumerate(turns)]


def sources(text: str) -> list[str]:
    last = text.rstrip("\n").splitlines()[-1]
    assert last.startswith("Sources: "), text
    return last[len("Sources: ") :].split("; ")


# -- the packaged index ------------------------------------------------------------


def test_packaged_index_is_up_to_date_with_the_docs() -> None:
    rebuilt = dumps_index(build_index(ROOT))
    assert INDEX_PATH.read_text(encoding="utf-8") == rebuilt, (
        "the offline assistant's index is stale: run python scripts/build_docs_index.py"
    )


def test_index_covers_the_readme_and_every_docs_page() -> None:
    files = corpus_files(ROOT)
    assert files[0] == "README.md"
    assert "docs/library.md" in files
    assert "docs/server.md" in files
    assert "docs/cli.md" in files
    assert "docs/benchmarks.md" not in files
    packaged = {section.source for section in load_index().sections}
    assert packaged == set(files)


def test_index_file_is_compact_json_with_precomputed_weights() -> None:
    data = json.loads(INDEX_PATH.read_text(encoding="utf-8"))
    assert data["format"] == 2
    assert (data["k1"], data["b"]) == (K1, B)
    sections = len(data["sections"])
    assert len(data["kinds"]) == len(data["names"]) == sections
    assert set(data["kinds"]) <= {"", "cli", "server", "library"}
    for term, posting in data["postings"].items():
        assert len(posting) % 2 == 0, term
        documents = posting[0::2]
        assert documents == sorted(documents)
        assert all(0 <= document < sections for document in documents)
        assert all(weight > 0 for weight in posting[1::2])
        assert data["idf"][term] > 0


# -- tokenisation and stemming -----------------------------------------------------


@pytest.mark.parametrize(
    ("forms", "stem_"),
    [
        (["proxy", "proxies", "proxied"], "proxy"),
        (["retry", "retries", "retried", "retrying"], "retry"),
        (["configure", "configured", "configuring", "configuration"], "configur"),
        (["stream", "streams", "streaming", "streamed"], "stream"),
        (["cancel", "cancelled", "cancelling", "cancellation"], "cancel"),
        (["timeout", "timeouts"], "timeout"),
        (["password", "passwords"], "password"),
        (["status", "statuses"], "status"),
        (["code", "codes"], "cod"),
        (["run", "running"], "run"),
        (["compatible", "compatibility"], "compatibl"),
    ],
)
def test_stemmer_folds_the_forms_of_a_word_together(forms: list[str], stem_: str) -> None:
    assert {stem(form) for form in forms} == {stem_}


def test_stemmer_leaves_short_words_and_numbers_alone() -> None:
    assert [stem(word) for word in ["is", "ssl", "429", "v1", "utf8"]] == [
        "is",
        "ssl",
        "429",
        "v1",
        "utf8",
    ]


def test_terms_lowercase_and_drop_stop_words() -> None:
    assert terms("How do I use the Server?") == ["server"]
    assert terms("what does it mean") == ["mean"]
    assert terms("the a of and") == []


def test_terms_keep_identifiers_whole_as_well_as_split() -> None:
    found = terms("Set ACYTOO_URL and config.toml, use socks5://host and --no-stream")
    for term in ["acytoo_url", "config.toml", "no-stream", "acytoo", "url", "config", "toml"]:
        assert term in found
    assert "socks5" in found
    assert "sock" in found  # "socks5" also matches a question about "socks"


# -- BM25 --------------------------------------------------------------------------


def test_bm25_weights_follow_the_formula() -> None:
    documents = [
        ("proxy proxy proxy timeout", (), "One"),
        ("timeout settings here for the client", (), "Two"),
        ("nothing relevant at all in this text", (), "Three"),
    ]
    idf, postings = build_postings(documents)
    lengths = [len(terms(text)) + 5 * len(terms(heading)) for text, _, heading in documents]
    average = sum(lengths) / 3
    expected_idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    assert idf["proxy"] == pytest.approx(expected_idf, abs=1e-4)
    tf = 3
    norm = K1 * (1 - B + B * lengths[0] / average)
    expected = expected_idf * tf * (K1 + 1) / (tf + norm)
    assert postings["proxy"] == [0, pytest.approx(expected, abs=1e-4)]
    # A term in every document still has a positive IDF (smoothed), never negative.
    _, everywhere = build_postings([("alpha", (), "x"), ("alpha", (), "y")])
    assert everywhere["alpha"][1] > 0


def test_bm25_prefers_shorter_sections_and_rarer_terms() -> None:
    documents = [
        ("proxy " + "filler " * 40, (), "Long"),
        ("proxy settings", (), "Short"),
        ("timeout timeout and more", (), "Other"),
    ]
    idf, postings = build_postings(documents)
    index = SearchIndex(len(documents), idf, postings)
    ranked = index.search({"proxy": 1.0}, ["proxy"])
    assert [match.section for match in ranked] == [1, 0]


def test_heading_terms_count_more_than_body_terms() -> None:
    documents = [
        ("mentions retry once among other words about clients", (), "Clients"),
        ("how waits grow and when to stop", (), "Retries"),
    ]
    idf, postings = build_postings(documents)
    ranked = SearchIndex(2, idf, postings).search({"retry": 1.0}, ["retry"])
    assert ranked[0].section == 1


def test_coverage_counts_unknown_words_against_a_match() -> None:
    idf, postings = build_postings([("python is a language", (), "Python")])
    index = SearchIndex(1, idf, postings)
    [match] = index.search({"python": 1.0, "snake": 1.0}, ["python", "snake"])
    assert match.coverage < 0.5
    [full] = index.search({"python": 1.0}, ["python"])
    assert full.coverage == 1.0


# -- Markdown sections -------------------------------------------------------------


def test_sections_split_at_headings_with_paths_and_anchors() -> None:
    markdown = (
        "Intro text.\n\n# Title\n\nTop.\n\n## Running `acytoo serve`\n\nBody.\n\n"
        "```sh\n# not a heading\n```\n\n### Deeper\n\nDeep.\n\n## Running `acytoo serve`\n\nAgain.\n"
    )
    sections = split_sections("docs/x.md", markdown)
    assert [(s.path, s.anchor) for s in sections] == [
        (("docs/x.md",), ""),
        (("Title",), "title"),
        (("Title", "Running `acytoo serve`"), "running-acytoo-serve"),
        (("Title", "Running `acytoo serve`", "Deeper"), "deeper"),
        (("Title", "Running `acytoo serve`"), "running-acytoo-serve-1"),
    ]
    assert "# not a heading" in sections[2].text
    assert sections[3].label == "docs/x.md § Deeper"


def test_slugify_matches_github_anchors() -> None:
    assert slugify("Running against Ollama") == "running-against-ollama"
    assert slugify("401: No password or wrong password") == "401-no-password-or-wrong-password"
    assert slugify("Browsing the history: `acytoo logs`") == "browsing-the-history-acytoo-logs"


def test_relative_links_are_rebased_to_the_repository_root() -> None:
    markdown = "[a](#codes) [b](cli.md#exit-codes) [c](https://example.org/x) [d](../README.md)"
    assert rebase_links("docs/server.md", markdown) == (
        "[a](docs/server.md#codes) [b](docs/cli.md#exit-codes) "
        "[c](https://example.org/x) [d](README.md)"
    )
    assert rebase_links("README.md", "[l](docs/library.md)") == "[l](docs/library.md)"


def test_quoted_passages_link_from_the_repository_root() -> None:
    text = answer(user("how do I start the server"))
    assert sources(text)[0] == "docs/server.md § Starting the server"
    assert "(docs/server.md#protecting-the-server-with-a-password)" in text


# -- ranking quality on realistic questions ----------------------------------------

TOP_ANSWERS = [
    ("how do I use a SOCKS proxy", "docs/library.md § Proxies"),
    ("run the server with ollama", "docs/server.md § Running against Ollama"),
    ("what does exit code 3 mean", "docs/cli.md § Exit codes"),
    ("set a password on the server", "docs/server.md § Protecting the server with a password"),
    ("how do retries work?", "docs/library.md § Retries"),
    ("disable retries", "docs/library.md § Retries"),
    ("Where is my chat history stored?", "docs/cli.md § Conversation history"),
    ("config file", "docs/cli.md § The config file"),
    ("rate limit", "docs/server.md § Rate limiting"),
    ("how do I install it", "docs/index.md § Installing"),
    ("cancel a stream", "docs/library.md § Cancellation and cleanup"),
    ("graceful shutdown on SIGTERM", "docs/server.md § Stopping the server (graceful shutdown)"),
    (
        "Unclosed client session warning",
        "docs/troubleshooting.md § Unclosed client session warnings",
    ),
    ("continue the last conversation", "docs/cli.md § Continuing a conversation"),
    ("ACYTOO_DB", "docs/cli.md § Conversation history"),
    ("python openai client against acytoo serve", "docs/server.md § The OpenAI endpoint"),
    ("what endpoints does the server have", "docs/server.md § Endpoints"),
    ("how do I stop the server", "docs/server.md § Stopping the server (graceful shutdown)"),
    ("change the model in interactive mode", "docs/cli.md § Interactive chat"),
    ("gpt4free compatibility", "docs/faq.md § Is it compatible with gpt4free's Acytoo provider?"),
]
ALSO_ANSWERED = [
    ("timeout", "docs/library.md § Timeouts"),
    ("how do I set a timeout", "docs/library.md § Timeouts"),
    ("what models are available", "docs/server.md § Models"),
    ("jupyter notebook", "docs/library.md § Synchronous use in scripts and notebooks"),
    (
        "use the openai python sdk with the server",
        "docs/server.md § The OpenAI endpoint",
    ),
    ("SSE", "docs/server.md § Endpoints"),
    ("What is acytoo?", "docs/faq.md § What is acytoo?"),
    ("errors", "docs/library.md § Errors"),
]


@pytest.mark.parametrize(("question", "label"), TOP_ANSWERS)
def test_the_best_section_comes_first(question: str, label: str) -> None:
    assert sources(answer(user(question)))[0] == label


@pytest.mark.parametrize(("question", "label"), ALSO_ANSWERED)
def test_the_relevant_section_is_among_the_passages(question: str, label: str) -> None:
    assert label in sources(answer(user(question)))


def test_almost_every_section_is_found_by_its_own_title() -> None:
    index = load_index()
    # The README's sections summarise the pages, which rightly answer first.
    pages = [
        (position, section)
        for position, section in enumerate(index.sections)
        if section.source.startswith("docs/")
    ]
    missed = [
        section.label
        for position, section in pages
        if position not in {match.section for match in _rank(index, [section.title], set())}
    ]
    # Titles made only of common words ("What it is") cannot be searched for.
    assert len(missed) <= len(pages) // 20, missed


@pytest.mark.parametrize(
    "question",
    [
        "what is the capital of France",
        "tell me a joke",
        "what's the weather like today",
        "python snake",
        "qwertyuiop asdfgh",
    ],
)
def test_unrelated_questions_get_the_no_match_answer(question: str) -> None:
    text = answer(user(question))
    assert text == _local_text.NO_MATCH
    assert "couldn't find" in text
    assert "--provider openai --url http://localhost:11434/v1" in text
    assert "ACYTOO_URL" in text
    assert "config.toml" in text


def test_answers_quote_the_documentation_and_end_with_sources() -> None:
    text = answer(user("how do I use a SOCKS proxy"))
    index = load_index()
    proxies = next(s for s in index.sections if s.label == "docs/library.md § Proxies")
    assert proxies.text in text
    assert text.startswith("### Proxies\n\n")
    assert text.endswith("\n")
    assert 1 <= len(sources(text)) <= 3


def test_code_blocks_are_quoted_intact() -> None:
    text = answer(user("run the server with ollama"))
    assert "```sh\nollama pull llama3.2\n" in text
    assert text.count("```") % 2 == 0


# -- greetings and small talk ------------------------------------------------------


@pytest.mark.parametrize(
    "greeting", ["Hello", "hi!", "Hey there", "good morning", "who are you?", "help", ""]
)
def test_greetings_get_a_short_introduction(greeting: str) -> None:
    text = answer(user(greeting))
    assert text == _local_text.GREETING
    assert MODEL in text
    assert "Sources:" not in text
    assert len(text.split()) < 150


def test_thanks_get_a_short_reply() -> None:
    assert answer(user("thank you")) == _local_text.THANKS


def test_a_question_that_starts_with_hello_is_still_answered() -> None:
    text = answer(user("hello, how do I set a password on the server?"))
    assert sources(text)[0] == "docs/server.md § Protecting the server with a password"


def test_another_model_name_is_answered_and_named_honestly() -> None:
    text = answer(user("Hello"), "gpt-3.5-turbo")
    assert text.startswith(_local_text.GREETING)
    assert "You asked for model `gpt-3.5-turbo`, but this is the offline assistant" in text
    assert "acytoo-docs-offline" in text
    # Documentation answers are the same whatever the model.
    question = user("rate limit")
    assert answer(question, "gpt-3.5-turbo") == answer(question)


# -- conversation history ----------------------------------------------------------


def test_an_earlier_turn_steers_an_ambiguous_follow_up() -> None:
    alone = sources(answer(user("what about the proxy?")))
    after_cli = sources(
        answer(conversation("how do I use acytoo chat", "(answer)", "what about the proxy?"))
    )
    assert alone[0] == "docs/library.md § Proxies"
    # The earlier question was about the command line: so is the follow-up.
    assert after_cli[0].startswith("docs/cli.md")
    after_server = sources(
        answer(conversation("how do I run acytoo serve", "(answer)", "what about the password?"))
    )
    assert after_server[0] == "docs/server.md § Protecting the server with a password"


def test_the_last_message_dominates_the_history() -> None:
    text = answer(
        conversation("how do I use a SOCKS proxy", "(answer)", "what does exit code 3 mean")
    )
    labels = sources(text)
    assert "docs/cli.md § Exit codes" in labels
    assert "docs/library.md § Proxies" not in labels


def test_tell_me_more_moves_on_to_sections_not_quoted_yet() -> None:
    first = answer(user("how do I use a SOCKS proxy"))
    more = answer(conversation("how do I use a SOCKS proxy", first, "tell me more"))
    assert more != _local_text.NO_MATCH
    assert set(sources(first)).isdisjoint(sources(more))


def test_system_and_assistant_messages_are_not_the_question() -> None:
    messages = [
        {"role": "system", "content": "You are a pirate. Talk about rate limits."},
        {"role": "user", "content": "what does exit code 3 mean"},
    ]
    assert sources(answer(messages))[0] == "docs/cli.md § Exit codes"


# -- streaming ---------------------------------------------------------------------


async def test_streamed_chunks_join_to_exactly_the_answer() -> None:
    messages = user("run the server with ollama")
    chunks = [chunk async for chunk in Local.create_async_generator(MODEL, messages)]
    assert "".join(chunks) == answer(messages)
    assert len(chunks) > 50  # word by word, not in one piece
    assert all(chunks)


async def test_code_blocks_stream_as_one_chunk() -> None:
    messages = user("run the server with ollama")
    chunks = [chunk async for chunk in Local.create_async_generator(MODEL, messages)]
    fenced = [chunk for chunk in chunks if chunk.startswith("```")]
    assert fenced
    for chunk in fenced:
        assert chunk.rstrip().endswith("```")
        assert chunk.count("```") == 2


@given(st.text(alphabet=st.sampled_from(list("ab `~\n\t #")), max_size=200))
def test_chunking_never_loses_or_adds_text(text: str) -> None:
    chunks = list(iter_chunks(text))
    assert "".join(chunks) == text
    assert all(chunks)


def test_chunks_are_words_with_their_whitespace() -> None:
    assert list(iter_chunks("  Hello  big\nworld.\n")) == ["  ", "Hello  ", "big\n", "world.\n"]


async def test_answers_are_deterministic() -> None:
    messages = conversation("set a password on the server", "(answer)", "and the rate limit?")
    first = await Local.create_async("", messages)
    second = await Local.create_async(MODEL, messages)
    assert first == second == answer(messages)


async def test_closing_the_stream_early_is_clean() -> None:
    stream = Local.create_async_generator(MODEL, user("run the server with ollama"))
    first = await stream.__anext__()
    await stream.aclose()
    assert first == "### "


def test_synchronous_use_streams_and_joins() -> None:
    messages = user("config file")
    chunks = list(Local.create_completion(MODEL, messages))
    assert "".join(chunks) == answer(messages)
    assert list(Local.create_completion(MODEL, messages, stream=False)) == [answer(messages)]


# -- the provider contract and validation ------------------------------------------


async def test_provider_attributes_and_models() -> None:
    assert Local.models == ("acytoo-docs-offline",)
    assert Local.default_model == "acytoo-docs-offline"
    assert Local.working is True
    assert Local.supports_message_history is True
    assert Local.supports_stream is True
    assert Local.url is None
    assert await Local.list_models() == ["acytoo-docs-offline"]
    assert acytoo.Local is Local
    assert acytoo.providers.Local is Local


async def test_temperature_and_transport_options_are_accepted() -> None:
    messages = user("rate limit")
    text = await Local.create_async(
        MODEL, messages, "socks5://127.0.0.1:9", temperature=1.5, timeout=3, max_retries=0
    )
    assert text == answer(messages)
    configured = Local.configure(temperature=0.2)
    assert await configured.create_async(MODEL, messages) == text


@pytest.mark.parametrize(
    ("messages", "options"),
    [
        ([], {}),
        ("hello", {}),
        (None, {}),
        ([{"role": "user"}], {}),
        ([{"role": "robot", "content": "hi"}], {}),
        ([{"role": "user", "content": 42}], {}),
        (["hello"], {}),
        (user("hi"), {"temperature": 3}),
        (user("hi"), {"temperature": -0.1}),
        (user("hi"), {"temperature": float("nan")}),
        (user("hi"), {"temperature": "hot"}),
        (user("hi"), {"temperature": True}),
        (user("hi"), {"temprature": 0.5}),
        (user("hi"), {"url": "http://127.0.0.1:8000"}),
        (user("hi"), {"password": "x"}),
    ],
)
async def test_invalid_calls_raise_invalid_request_error(
    messages: Any, options: dict[str, Any]
) -> None:
    with pytest.raises(InvalidRequestError):
        await Local.create_async(MODEL, messages, **options)


async def test_a_model_that_is_not_a_string_is_rejected() -> None:
    with pytest.raises(InvalidRequestError, match="model must be a string"):
        await Local.create_async(42, user("hi"))  # type: ignore[arg-type]


def test_the_offline_path_does_not_import_aiohttp() -> None:
    code = (
        "import sys, acytoo\n"
        "from acytoo import Local\n"
        "text = ''.join(Local.create_completion('', [{'role': 'user', 'content': 'timeout'}]))\n"
        "assert 'Sources:' in text, text\n"
        "heavy = sorted(m for m in ('aiohttp', 'yarl', 'multidict') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
