"""What a user's own type checker sees: code written the natural way type-checks.

Runs mypy (strict) on small user programs against the installed package, so a
signature that is too narrow for callers fails here before it fails for them.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

USER_CODE = """
    from collections.abc import Sequence

    from acytoo import Acytoo, Message, OpenAICompatible

    plain: list[dict[str, str]] = [{"role": "user", "content": "Hello"}]
    typed: list[Message] = [{"role": "user", "content": "Hello"}]
    frozen: tuple[dict[str, str], ...] = ({"role": "user", "content": "Hello"},)


    async def ask(messages: Sequence[dict[str, str]]) -> str:
        return await Acytoo.create_async("gpt-3.5-turbo", messages)


    async def main() -> None:
        await Acytoo.create_async("gpt-3.5-turbo", plain)
        await Acytoo.create_async("gpt-3.5-turbo", typed)
        await Acytoo.create_async("gpt-3.5-turbo", frozen)
        async for _ in Acytoo.create_async_generator("gpt-3.5-turbo", plain):
            pass
        for _ in Acytoo.create_completion("gpt-3.5-turbo", plain):
            pass
        # configure() returns the subclass's own type, so its own methods are known.
        Ollama = OpenAICompatible.configure(base_url="http://127.0.0.1:11434/v1")
        reveal_type(Ollama)
        MyServer = Acytoo.configure(url="http://127.0.0.1:8000")
        reveal_type(MyServer)
"""


def run_mypy(tmp_path: Path, code: str) -> tuple[str, int]:
    program = tmp_path / "user_program.py"
    program.write_text(textwrap.dedent(code))
    stdout, stderr, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(program)]
    )
    return stdout + stderr, status


@pytest.mark.timeout(300)
def test_natural_user_code_type_checks(tmp_path: Path) -> None:
    output, _ = run_mypy(tmp_path, USER_CODE)
    errors = [line for line in output.splitlines() if ": error:" in line]
    assert errors == [], output
    reveals = [line for line in output.splitlines() if "Revealed type" in line]
    assert "type[acytoo.providers.openai_compatible.OpenAICompatible]" in reveals[0]
    assert "type[acytoo.providers.acytoo.Acytoo]" in reveals[1]


@pytest.mark.timeout(300)
def test_a_wrong_role_is_a_type_error_for_typed_messages(tmp_path: Path) -> None:
    output, status = run_mypy(
        tmp_path,
        """
        from acytoo import Message

        wrong: Message = {"role": "robot", "content": "Hello"}
        """,
    )
    assert status != 0
    assert "robot" in output
