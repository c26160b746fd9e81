"""What the README and docs/ promise a new user, checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acytoo.cli import config

ROOT = Path(__file__).resolve().parent.parent
_TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)


def _config_keys(page: str) -> set[str]:
    text = (ROOT / page).read_text(encoding="utf-8")
    [block] = [b for b in _TOML_BLOCK.findall(text) if "provider =" in b]
    return set(config.parse_toml(block))


@pytest.mark.parametrize("page", ["README.md", "docs/cli.md"])
def test_config_examples_show_every_key(page: str) -> None:
    assert _config_keys(page) == set(config._KEYS)


def test_install_commands_are_ones_that_work() -> None:
    # acytoo is not on PyPI: every install command names a checkout or a wheel.
    for page in ["README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]:
        text = (ROOT / page).read_text(encoding="utf-8")
        for match in re.finditer(r"pip install[^\n`]*", text):
            command = match.group()
            if text[match.end() :].startswith("` does not install"):
                continue  # the sentence saying so
            assert re.search(r"-e '?\.|\.whl", command), f"{page}: {command}"


def test_the_readme_says_how_to_put_acytoo_on_the_path() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert ". .venv/bin/activate" in readme
