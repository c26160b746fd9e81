"""How answers reach the screen.

On a terminal, a spinner waits for the first chunk and the answer is then
rendered live as Markdown with rich (imported only then). Anywhere else
(a pipe, a file) the text goes out exactly as it arrived and nothing else is
written to stdout: notices and errors go to stderr.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live

__all__ = [
    "PlainRenderer",
    "Renderer",
    "RichRenderer",
    "debug_enabled",
    "enable_debug",
    "error",
    "make_renderer",
    "notice",
    "one_line",
    "redact",
]

_REFRESH_PER_SECOND = 12

_debug = False


def enable_debug() -> None:
    """Show tracebacks under error lines from now on (``--debug``)."""
    global _debug
    _debug = True


def debug_enabled() -> bool:
    """True with ``--debug`` or ``ACYTOO_DEBUG=1``: errors show their traceback."""
    import os

    return _debug or os.environ.get("ACYTOO_DEBUG", "") not in ("", "0")


class _NoEcho:
    """Keystrokes are not echoed while an answer is drawn live (Unix terminals).

    The terminal echoes Ctrl-C as ``^C`` at the cursor, which sits at the end
    of the live area: the echo wraps to a new line, rich then redraws the
    answer from there, and the partial answer shows twice. Typed-ahead text
    is still read by the next prompt, it is only not shown twice either.
    """

    def __init__(self) -> None:
        self._saved: list[Any] | None = None

    def __enter__(self) -> None:
        try:
            import termios

            fd = sys.stdin.fileno()
            if not sys.stdin.isatty():
                return
            attributes = termios.tcgetattr(fd)
            self._saved = list(attributes)
            attributes[3] &= ~(termios.ECHO | termios.ECHOCTL)
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
        except (ImportError, OSError, ValueError, AttributeError):
            self._saved = None  # not a Unix terminal: nothing to do

    def __exit__(self, *exc_info: object) -> None:
        if self._saved is None:
            return
        import contextlib
        import termios

        with contextlib.suppress(OSError, ValueError):  # the terminal went away
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSANOW, self._saved)
        self._saved = None


class Renderer(Protocol):
    """Shows one answer: ``start``, then ``chunk`` per piece, then ``finish``."""

    def start(self) -> None: ...

    def chunk(self, text: str) -> None: ...

    def finish(self, text: str) -> None: ...


class PlainRenderer:
    """Writes the text exactly as received (streamed, or whole at the end)."""

    def __init__(self, stream: bool = True, file: TextIO | None = None) -> None:
        self.stream = stream
        self.file = file or sys.stdout

    def start(self) -> None:
        """Nothing to show while waiting."""

    def chunk(self, text: str) -> None:
        """Write ``text`` now when streaming."""
        if self.stream:
            self.file.write(text)
            self.file.flush()

    def finish(self, text: str) -> None:
        """Write the whole text unless it was streamed."""
        if not self.stream and text:
            self.file.write(text)
        self.file.flush()


class _LiveMarkdown:
    """The answer so far, parsed as Markdown only when rich redraws it."""

    def __init__(self) -> None:
        self.text = ""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.markdown import Markdown

        yield Markdown(self.text)


class RichRenderer:
    """A spinner until the first chunk, then live Markdown (terminal output).

    Only the block being written is live: each finished block (text up to a
    blank line outside a code fence) is printed once above the live area, so
    an answer taller than the terminal scrolls normally instead of being
    redrawn.
    """

    def __init__(self, stream: bool = True, *, newline_after: bool = False) -> None:
        from rich.console import Console

        self.stream = stream
        self.console = Console(highlight=False)
        self._live: Live | None = None
        self._markdown = _LiveMarkdown()
        self._newline_after = newline_after
        self._printed = 0  # characters already printed as finished blocks
        self._text = ""
        self._no_echo = _NoEcho()

    def start(self) -> None:
        """Show the spinner."""
        from rich.live import Live
        from rich.spinner import Spinner

        self._live = Live(
            Spinner("dots", text=" thinking…", style="dim"),
            console=self.console,
            refresh_per_second=_REFRESH_PER_SECOND,
            vertical_overflow="visible",
        )
        self._no_echo.__enter__()
        self._live.start()

    def chunk(self, text: str) -> None:
        """Add ``text``; the first chunk replaces the spinner."""
        first = not self._text
        self._text += text
        if not self.stream or self._live is None:
            return
        split = _finished_blocks_end(self._text, self._printed)
        if split > self._printed:
            from rich.markdown import Markdown

            # Printed through the live display: it lands above the live area.
            self._live.console.print(Markdown(self._text[self._printed : split]))
            self._printed = split
        self._markdown.text = self._text[self._printed :]
        if first:
            self._live.update(self._markdown, refresh=True)

    def finish(self, text: str) -> None:
        """Render ``text`` for the last time and leave it on screen."""
        if not text.startswith(self._text[: self._printed]):
            self._printed = 0  # not what was streamed: show it all
        text = text[self._printed :]
        self._markdown.text = text
        if self._live is not None:
            if text:
                self._live.update(self._markdown, refresh=True)
            else:
                from rich.text import Text

                self._live.update(Text(""), refresh=True)
            try:
                self._live.stop()
            finally:
                self._live = None
                self._no_echo.__exit__(None, None, None)
        elif text:
            self.console.print(self._markdown)
        if self._newline_after:
            self.console.print()


def _finished_blocks_end(text: str, start: int) -> int:
    """The end of the last complete Markdown block of ``text`` after ``start``, or ``start``.

    A block ends at a blank line that is not inside a fenced code block.
    """
    end = text.rfind("\n\n", start)
    if end <= start:
        return start
    # Text before ``start`` is complete blocks, so its fences are balanced:
    # only the new part needs counting (linear work over the whole answer).
    fences = sum(
        1 for line in text[start:end].splitlines() if line.lstrip().startswith(("```", "~~~"))
    )
    return end + 2 if fences % 2 == 0 else start


def make_renderer(stream: bool = True, *, newline_after: bool = False) -> Renderer:
    """Rich on a terminal, plain text otherwise."""
    if sys.stdout.isatty():
        return RichRenderer(stream, newline_after=newline_after)
    return PlainRenderer(stream)


def one_line(message: str) -> str:
    """``message`` on one line (a service's multi-line error body, for instance)."""
    return " ".join(message.split())


def redact(message: str, secrets: list[str]) -> str:
    """``message`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message


def notice(message: str, file: Any = None) -> None:
    """A one-line note on stderr (``acytoo: ...``)."""
    print(f"acytoo: {one_line(message)}", file=file or sys.stderr, flush=True)


def error(message: str, file: Any = None) -> None:
    """A one-line error on stderr (``acytoo: error: ...``)."""
    print(f"acytoo: error: {one_line(message)}", file=file or sys.stderr, flush=True)
