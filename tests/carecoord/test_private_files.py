"""Data files (stores, keys, locks) are created 0600 and their folders 0700, by every command."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from carecoord.cli import main


def not_private(root: Path) -> list[tuple[str, str]]:
    wrong = []
    for folder, _, files in os.walk(root):
        if stat.S_IMODE(os.stat(folder).st_mode) & 0o077:
            wrong.append((folder, oct(stat.S_IMODE(os.stat(folder).st_mode))))
        for name in files:
            mode = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
            if mode & 0o177:
                wrong.append((os.path.join(folder, name), oct(mode)))
    return wrong


def test_the_demo_makes_its_files_private(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--data", str(tmp_path / "demo")]) == 0
    capsys.readouterr()
    assert (tmp_path / "demo" / "projections.sqlite3").exists()
    assert not not_private(tmp_path / "demo")


def test_a_token_makes_the_key_pair_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CARECOORD_DATA", str(tmp_path / "var"))
    monkeypatch.delenv("CARECOORD_JWKS", raising=False)
    assert main(["token", "--role", "nurse", "--sub", "rn-1"]) == 0
    capsys.readouterr()
    assert not not_private(tmp_path / "var")
