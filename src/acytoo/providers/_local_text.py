"""What the offline assistant says when it is not quoting the documentation."""

from __future__ import annotations

__all__ = ["GREETING", "NO_MATCH", "THANKS", "cannot_do", "model_note"]

_REAL_MODEL = """\
To talk to a real model instead, tell acytoo where one runs:

- Ollama or any OpenAI-compatible server: \
`acytoo chat --provider openai --url http://localhost:11434/v1 -m llama3.2 "Hello"`
- a self-hosted acytoo server: `acytoo chat --url http://127.0.0.1:8000 "Hello"`
- every time: set `ACYTOO_URL` (and `ACYTOO_PROVIDER=openai` for OpenAI-style \
servers), or put `url` and `provider` in `~/.config/acytoo/config.toml`
"""

GREETING = f"""\
Hello! I'm acytoo's offline assistant (model `acytoo-docs-offline`). I run \
on your machine with no network and answer questions about acytoo from its \
own documentation, quoting the relevant sections and saying where they come \
from.

Ask me, for example:

- How do I run the server against Ollama?
- How do I use a SOCKS proxy?
- How do I protect the server with a password?
- What does exit code 3 mean?
- Where is my chat history stored?

I'm not a general-purpose language model. {_REAL_MODEL}"""

NO_MATCH = f"""\
I couldn't find anything about that in acytoo's documentation. I'm the \
offline assistant (`acytoo-docs-offline`): I only know what the docs say \
about acytoo's library, server and command line, and I can't chat about \
other topics.

{_REAL_MODEL}
Or ask me about acytoo, for example "how do I set a timeout?"
"""

THANKS = "You're welcome! Ask me anything else about acytoo.\n"


def model_note(model: str) -> str:
    """A line saying which model answered when the caller asked for another one."""
    return (
        f"\n(You asked for model `{model}`, but this is the offline assistant "
        "`acytoo-docs-offline`: it answers only from acytoo's documentation.)\n"
    )


def cannot_do(task: str) -> str:
    """The plain answer to a request the offline assistant cannot carry out."""
    return f"""\
I can't {task}: I'm acytoo's offline assistant (`acytoo-docs-offline`), not a \
language model. I only quote acytoo's documentation, so I can't read, review, \
summarize, translate or write text for you.

{_REAL_MODEL}
For example, to have a local model review a diff:

```sh
git diff | acytoo chat --provider openai --url http://localhost:11434/v1 -m llama3.2 "review this"
```

Or ask me about acytoo, for example "how do I use a model running on my own machine?"
"""
