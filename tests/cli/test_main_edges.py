"""The ``acytoo`` entry point on edges: a missing [cli] extra, secrets written as ``--key=``."""

from __future__ import annotations

import sys

import pexpect
import pytest

from acytoo.cli import _secrets_in

from .conftest import CLI, RUN_TIMEOUT, single_line


def test_secrets_are_found_in_both_option_forms_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ACYTOO_KEY", "env-key")
    monkeypatch.delenv("ACYTOO_PASSWORD", raising=False)
    args = ["chat", "--key=k-1", "--password", "p-2", "--url", "http://127.0.0.1:9", "--key"]
    # A trailing flag without its value and empty values are no secrets.
    assert _secrets_in(args) == ["env-key", "k-1", "p-2"]
    assert _secrets_in(["--password=", "--keyboard", "x"]) == ["env-key"]


def test_a_missing_cli_extra_is_one_line_naming_the_fix(cli: CLI) -> None:
    # Python's own way to make a module unimportable: as if prompt_toolkit were not
    # installed. The session needs it only on a terminal, so run on one.
    code = (
        "import sys; sys.modules['prompt_toolkit'] = None\n"
        "from acytoo.cli import main\n"
        "main(['chat', '--provider', 'local'])\n"
    )
    child = pexpect.spawn(
        sys.executable,
        ["-c", code],
        env={**cli.env, "TERM": "xterm", "NO_COLOR": "1"},
        encoding="utf-8",
        timeout=RUN_TIMEOUT,
    )
    output = child.read()
    child.close()
    assert child.exitstatus == 1
    line = single_line(output)
    assert "needs the [cli] extra (prompt_toolkit is missing)" in line
    assert "pip install -e '.[cli]'" in line
    assert "Traceback" not in output
