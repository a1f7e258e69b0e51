"""`carecoord replay --html OUT.html`: the calendar page of every episode in one file, one section
per episode, while what the command prints stays exactly what it printed without it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from carecoord.cli import main
from tests.support.history_builder import History, standard

THROUGH = "2026-03-20"


def three_episodes() -> History:
    h = standard(patient="pt-1")
    h.ep = "ep-3"
    h.referral("pt-3")
    h.declined()
    h.ep = "ep-2"
    standard(h, patient="pt-2", soc="2026-03-05")
    return h


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["replay", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("form", [["--json"], []], ids=["json", "report"])
def test_the_printed_output_does_not_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: list[str]
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(three_episodes().lines()) + "\n")
    without = replay(capsys, str(history), "--through", THROUGH, *form)
    with_html = replay(capsys, str(history), "--through", THROUGH, *form, "--html", str(tmp_path / "c.html"))
    assert with_html == without and (tmp_path / "c.html").exists()


def test_one_section_per_episode_in_episode_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(three_episodes().lines()) + "\n")
    out = tmp_path / "calendars.html"
    as_of = "2026-01-01T01:00:00Z"
    replay(capsys, str(history), "--through", THROUGH, "--json", "--html", str(out))
    html = out.read_text()
    assert re.findall(r'<section class="episode" id="([^"]+)"', html) == ["ep-1", "ep-2", "ep-3"]
    assert "S9363 calendars: history.jsonl" in html and "@page { size: A4 portrait" in html
    assert "break-before: page" in html  # each episode begins a new printed page
    assert "No day is listed: the episode was declined." in html
    replay(capsys, str(history), "--through", THROUGH, "--as-of", as_of, "--html", str(out))
    assert f"as known at {as_of}" in out.read_text()


def test_a_file_that_cannot_be_written_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("\n".join(three_episodes().lines()) + "\n")
    status = main(
        ["replay", str(history), "--through", THROUGH, "--html", str(tmp_path / "no" / "such.html")]
    )
    assert status == 1 and "cannot write" in capsys.readouterr().err
