"""The simulated cluster's token: every node, whatever its home, reads the one its driver has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios._simulated import give_a_token_if_needed

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def token_auth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Token authentication on, nothing in the environment naming a token, and ``tmp_path`` as home."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_a_token_in_the_home_is_named_by_its_path(token_auth: Path) -> None:
    token = token_auth / ".ray" / "auth_token"
    token.parent.mkdir()
    token.write_text("a" * 32)
    give_a_token_if_needed()
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(token)
    assert "RAY_AUTH_TOKEN" not in os.environ


def test_with_no_token_anywhere_the_nodes_get_a_fresh_one(token_auth: Path) -> None:
    give_a_token_if_needed()
    assert len(os.environ["RAY_AUTH_TOKEN"]) == 32 and "RAY_AUTH_TOKEN_PATH" not in os.environ


def test_a_token_named_in_the_environment_is_left_as_it_is(token_auth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_AUTH_TOKEN", "b" * 32)
    give_a_token_if_needed()
    assert os.environ["RAY_AUTH_TOKEN"] == "b" * 32 and "RAY_AUTH_TOKEN_PATH" not in os.environ


def test_without_token_authentication_no_token_is_given(token_auth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    give_a_token_if_needed()
    assert not {"RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"} & os.environ.keys()


def test_a_node_with_a_home_of_its_own_starts_when_the_token_is_in_the_drivers_home(tmp_path: Path) -> None:
    token = tmp_path / ".ray" / "auth_token"
    token.parent.mkdir()
    token.write_text("c" * 32)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    env |= {"HOME": str(tmp_path), "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run([sys.executable, "tests/token_home_probe.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["ran_on"] == seen["worker_node"]
