"""The deployment files say what the code reads: every setting is in deploy/.env.example."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from survey.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
FILLED_IN = {"SECRET_KEY": "k" * 48, "DOSSIER_CODE_KEY": "d" * 48}


class RecordingEnviron(Mapping[str, str]):
    """An environment that remembers every name the configuration asks about."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values, self.asked = values, set[str]()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        self.asked.add(str(name))
        return name in self.values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the configuration must ask for names, not list the environment")

    def __len__(self) -> int:
        return len(self.values)


def _example() -> dict[str, str]:
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_env_example_lists_every_setting_the_app_reads() -> None:
    example = _example()
    asked: set[str] = set()
    for env in (
        {},
        example | FILLED_IN,
    ):  # development (nothing set) and production (everything set)
        recording = RecordingEnviron(dict(env))
        load_config(None, recording, "instance")
        asked |= recording.asked
    assert {"SECRET_KEY", "DATABASE_URL", "HAILONG_ENV"} <= asked
    assert asked <= set(example), f"missing from deploy/.env.example: {asked - set(example)}"


def test_env_example_lists_what_gunicorn_and_the_backup_read() -> None:
    example = _example()
    for path in (DEPLOY / "gunicorn.conf.py", DEPLOY / "backup.sh"):
        text = path.read_text()
        names = set(re.findall(r'environ\.get\("(\w+)"', text))
        names |= set(re.findall(r"\$\{(\w+):", text))
        assert names, path
        assert names <= set(example), f"{path.name}: {names - set(example)}"


def test_env_example_is_a_production_configuration_once_its_secrets_are_filled_in() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(None, _example(), "instance")
    config = load_config(None, _example() | FILLED_IN, "instance")
    assert config["ENV_NAME"] == "production" and config["SESSION_COOKIE_SECURE"] is True
    assert config["PROXY_FIX_X_FOR"] == 1


def _pins(path: Path) -> dict[str, str]:
    """name -> version of every ``name==version`` line (extras dropped, names normalised)."""
    pins = {}
    for line in path.read_text().splitlines():
        found = re.match(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s\\;]+)", line)
        if found:
            pins[re.sub(r"[-_.]+", "-", found.group(1)).lower()] = found.group(2)
    return pins


def test_lock_holds_every_dependency_and_requirements_txt_is_generated_from_it() -> None:
    """A dependency added to requirements.txt by hand, or to requirements.in without running
    the command in README (Production), fails here."""
    wanted, locked = _pins(ROOT / "requirements.in"), _pins(ROOT / "requirements.lock")
    assert {n: v for n, v in wanted.items() if locked.get(n) != v} == {}
    assert _pins(ROOT / "requirements.txt") == locked
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[A-Za-z0-9]", line):
            assert lines[number + 1].strip().startswith("--hash=sha256:"), f"no hash: {line}"
