"""Where the command line sends: precedence, validation, the config file, exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from acytoo import errors
from acytoo.cli import exit_codes
from acytoo.cli.config import (
    ConfigError,
    Settings,
    guess_provider,
    load_config_file,
    parse_toml,
    resolve,
)

CONFIG = """\
# acytoo settings
provider = "openai"   # a comment
url = 'http://127.0.0.1:11434/v1'
model = "llama3.2"
system = "Say \\"hi\\" first.\\nThen answer."
temperature = 0.7
timeout = 60
"""


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in (
        "ACYTOO_URL",
        "ACYTOO_PROVIDER",
        "ACYTOO_MODEL",
        "ACYTOO_KEY",
        "ACYTOO_PASSWORD",
        "ACYTOO_PROXY",
        "ACYTOO_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = tmp_path / "acytoo" / "config.toml"
    path.parent.mkdir()
    return path


def test_nothing_configured_is_the_offline_fallback() -> None:
    target = resolve(Settings())
    assert (target.provider, target.url, target.fallback) == ("local", None, True)


def test_flags_then_environment_then_file(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolated.write_text(CONFIG)
    from_file = resolve(Settings())
    assert (from_file.provider, from_file.url, from_file.model) == (
        "openai",
        "http://127.0.0.1:11434/v1",
        "llama3.2",
    )
    assert from_file.system == 'Say "hi" first.\nThen answer.'
    assert (from_file.temperature, from_file.timeout, from_file.fallback) == (0.7, 60.0, False)
    monkeypatch.setenv("ACYTOO_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("ACYTOO_PROVIDER", "acytoo")
    monkeypatch.setenv("ACYTOO_MODEL", "env-model")
    from_env = resolve(Settings())
    assert (from_env.provider, from_env.url, from_env.model) == (
        "acytoo",
        "http://127.0.0.1:8000",
        "env-model",
    )
    from_flags = resolve(Settings(provider="local", model="flag-model"))
    assert (from_flags.provider, from_flags.url, from_flags.model) == ("local", None, "flag-model")
    assert not from_flags.fallback


def test_acytoo_config_names_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.toml"
    other.write_text('url = "http://127.0.0.1:9000"\n')
    monkeypatch.setenv("ACYTOO_CONFIG", str(other))
    assert resolve(Settings()).url == "http://127.0.0.1:9000"


def test_provider_is_guessed_from_the_url() -> None:
    assert guess_provider("http://localhost:11434/v1") == "openai"
    assert guess_provider("http://localhost:11434/v1/") == "openai"
    assert guess_provider("http://127.0.0.1:8000") == "acytoo"
    assert resolve(Settings(url="http://h/v1")).provider == "openai"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(provider="acytoo"), "needs a URL"),
        (Settings(provider="openai"), "needs a URL"),
        (Settings(provider="smtp", url="http://h"), "unknown provider"),
        (Settings(url="localhost:8000"), "invalid url"),
        (Settings(url="http://h:notaport"), "invalid url"),
        (Settings(temperature=-0.1), "temperature"),
        (Settings(temperature=float("inf")), "temperature"),
        (Settings(timeout=-1), "timeout"),
        (Settings(proxy="ftp://p"), "invalid proxy"),
    ],
)
def test_invalid_settings(settings: Settings, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(settings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("url = ", "invalid TOML"),
        ('colour = "blue"\n', "unknown key"),
        ("temperature = 'hot'\n", "temperature must be a number"),
        ("url = 5\n", "url must be a string"),
        ("timeout = true\n", "timeout must be a number"),
        (b"url = '\xff'\n", "invalid TOML"),
    ],
)
def test_bad_config_files_name_the_file_and_the_key(
    isolated: Path, text: str | bytes, message: str
) -> None:
    if isinstance(text, bytes):
        isolated.write_bytes(text)
    else:
        isolated.write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config_file()
    assert str(isolated) in str(raised.value)


def test_secrets_never_appear_in_the_repr() -> None:
    target = resolve(
        Settings(
            url="http://user:url-pass@h:1",
            key="k-secret",
            password="p-secret",
            proxy="socks5://u:proxy-pass@p:1080",
        )
    )
    assert "secret" not in repr(target)
    assert "pass" not in repr(target).replace("password", "")
    assert sorted(target.secrets) == ["k-secret", "p-secret", "proxy-pass", "url-pass"]


def test_config_file_is_real_toml() -> None:
    # tomllib (3.11+) or tomli (3.10): the same parser on every version, not a subset.
    assert parse_toml(CONFIG)["system"] == 'Say "hi" first.\nThen answer.'
    assert parse_toml("a = '''x'''\nb = 0x1F\nc = \"\\U0001F600\"\n") == {
        "a": "x",
        "b": 31,
        "c": "\U0001f600",
    }
    if sys.version_info >= (3, 11):
        from tomllib import TOMLDecodeError
    else:
        from tomli import TOMLDecodeError
    for bad in ('a = "\\/"\n', "a = [1,\n", "a = 1\na = 2\n"):
        with pytest.raises(TOMLDecodeError):
            parse_toml(bad)


def _status_error(status: int) -> errors.APIStatusError:
    cls = errors.status_error_class(status)
    return cls("failed", status=status, body="", url="http://h/")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.ConnectError("refused"), exit_codes.CONNECT),
        (errors.ProxyError("proxy refused"), exit_codes.CONNECT),
        (errors.ConnectTimeout("slow"), exit_codes.CONNECT),
        (errors.ReadTimeout("idle"), exit_codes.CONNECT),
        (_status_error(401), exit_codes.HTTP_STATUS),
        (_status_error(429), exit_codes.HTTP_STATUS),
        (_status_error(503), exit_codes.HTTP_STATUS),
        (errors.IncompleteResponseError("cut"), exit_codes.STREAM_BROKEN),
        (errors.StreamError("upstream failed"), exit_codes.STREAM_BROKEN),
        (errors.InvalidRequestError("bad model"), exit_codes.USAGE),
        (
            errors.AllProvidersFailedError(
                [("a", errors.ConnectError("x")), ("b", _status_error(500))]
            ),
            exit_codes.HTTP_STATUS,
        ),
        (errors.AllProvidersFailedError([]), exit_codes.ERROR),
        (KeyboardInterrupt(), exit_codes.INTERRUPTED),
        (RuntimeError("other"), exit_codes.ERROR),
    ],
)
def test_exit_codes(exc: BaseException, code: int) -> None:
    assert exit_codes.exit_code_for(exc) == code


def test_exit_codes_are_distinct_and_documented() -> None:
    codes = [
        exit_codes.OK,
        exit_codes.ERROR,
        exit_codes.USAGE,
        exit_codes.CONNECT,
        exit_codes.HTTP_STATUS,
        exit_codes.STREAM_BROKEN,
        exit_codes.INTERRUPTED,
        exit_codes.TERMINATED,
    ]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert f"{code} " in exit_codes.EPILOG
