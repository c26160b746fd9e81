"""The words users say for a documentation section, indexed with it at build time.

A heading names a section in the documentation's words ("Rate limiting",
"Conversation history"); people ask in theirs ("throttle", "my old chats").
Each entry gives one section, by its label (``file § heading``), a few such
names separated by commas. They are indexed like the section's text, and a
question that contains all the words of one of them names that section, as
a question containing its whole heading does.
A label that no longer exists is reported by the test suite, so a renamed
heading does not silently lose its aliases; a new page needs no entry.
Used only by ``build.py``, at build time.
"""

from __future__ import annotations

__all__ = ["ALIASES"]

ALIASES: dict[str, str] = {
    # The command line.
    "docs/cli.md § The command line: `acytoo`": "version, installed version, traceback, debug",
    "docs/cli.md § One-shot chat": "ask a question, one question",
    "docs/cli.md § Piping input": "pipe, stdin, pipe a file, redirect",
    "docs/cli.md § Interactive chat": "repl, quit, exit, leave, newline, multi-line, ctrl-c",
    "docs/cli.md § Continuing a conversation": "resume, previous conversation, last conversation",
    "docs/cli.md § Chat options": (
        "flags, chat flags, options, model flag, system prompt flag, json output, pass key,"
        " pass password, no-stream"
    ),
    "docs/cli.md § Where it sends": "point cli, point at server, own server, target, which server",
    "docs/cli.md § The config file": "configuration file, settings file, config location",
    "docs/cli.md § Environment variables": "env, env variables, environment",
    "docs/cli.md § Conversation history": (
        "history, saved chats, stored chats, save chats, record chats, history database"
    ),
    "docs/cli.md § Browsing the history: `acytoo logs`": (
        "old chats, past chats, previous chats, old conversations, see history, export history,"
        " export conversations"
    ),
    "docs/cli.md § Listing models: `acytoo models`": "list models, available models",
    "docs/cli.md § Exit codes": "exit status, return code, exit code",
    # The server.
    "docs/server.md § Starting the server": (
        "run server, start server, launch server, port, host, listen, bind, other machines,"
        " reachable, all interfaces, server up, healthz"
    ),
    "docs/server.md § Running against Ollama": "serve ollama, server ollama, front ollama",
    "docs/server.md § Running against any OpenAI-compatible upstream": (
        "openai backend, forward openai, failover upstreams, vllm, llama.cpp"
    ),
    "docs/server.md § Protecting the server with a password": "password server, protect, secure",
    "docs/server.md § API keys": "upstream keys, rotate keys, access keys, require key",
    "docs/server.md § Models": "default model, allowed models, restrict models",
    "docs/server.md § Rate limiting": "rate limit, throttle, limit requests, requests per client",
    "docs/server.md § Stopping the server (graceful shutdown)": (
        "stop server, shutdown, kill server, sigterm, graceful"
    ),
    "docs/server.md § Logging": "access log, log level, server logs",
    "docs/server.md § Error responses": "error status, body size, request size, invalid json",
    "docs/server.md § The Acytoo endpoint": "api/completions body, request body",
    "docs/server.md § The OpenAI endpoint": "openai sdk, openai client, openai package, /v1",
    "docs/server.md § Server options reference": "serve options, server options, server flags",
    # The library.
    "docs/library.md § Providers": "which providers, available providers, backends",
    "docs/library.md § The provider contract": "provider methods, provider interface, methods",
    "docs/library.md § Synchronous use in scripts and notebooks": (
        "synchronous, sync, without async, blocking, jupyter, notebook"
    ),
    "docs/library.md § Talking to an Acytoo server": (
        "acytoo provider url, acytoo provider server, base url, server url"
    ),
    "docs/library.md § OpenAI-compatible services": "ollama python, openai python, base_url, api_key",
    "docs/library.md § Failover with RetryProvider": "failover, fallback provider, provider down",
    "docs/library.md § Options": "keyword arguments, kwargs, parameters, provider options",
    "docs/library.md § Errors": "errors, exceptions, catch errors",
    "docs/library.md § Cancellation and cleanup": "cancel, stop stream, close stream, aclose",
    # Elsewhere.
    "README.md § Development": "tests, run tests, test suite, ci",
    "docs/index.md § Installing": "install, pip install, setup",
    "docs/index.md § How the pieces fit": "fit together, architecture, pieces",
    "docs/faq.md § How do I get the whole answer instead of a stream?": (
        "whole answer, one string, no stream"
    ),
    "docs/faq.md § Is this the original chat.acytoo.com service?": "old site, original site",
    "docs/faq.md § Can several scripts or terminals use acytoo at the same time?": (
        "several terminals, same time, simultaneously, concurrently"
    ),
    "docs/troubleshooting.md § The answer stops in the middle (IncompleteResponseError)": (
        "answer stops, answer cut, incomplete answer, truncated"
    ),
    "docs/troubleshooting.md § Strange characters in answers": "strange characters, encoding",
}
