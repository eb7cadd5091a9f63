"""The README's and docs' commands are the program's: every `swapbn` line in a fenced block of
README.md or docs/*.md parses with the real command line, and the guide's measuring section's
commands run as written on the runs that `make run` leaves (made here at smoke size)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from swapbn import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
GUIDE = ROOT / "docs" / "guide.md"
SMOKE = ["--width", "0.0625", "--train-subset", "80", "--epochs", "1", "--batch-size", "40",
         "--device", "cpu", "--seeds", "0", "--quiet"]


def section(page: Path, title: str) -> str:
    """The text of the section `## title` of `page` up to the next section of that level."""
    text = page.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def commands(text: str) -> list[list[str]]:
    """The `swapbn ...` lines of the fenced blocks of `text` as argument lists, comments and
    `$ ` prompts and `...` (the flags elided) removed; shell variables stand for an experiment
    name."""
    found = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("swapbn "):
                argv = shlex.split(line, comments=True)[1:]
                found.append(["table2" if a.startswith("$") else a for a in argv if a != "..."])
    return found


ALL = [argv for page in PAGES for argv in commands(page.read_text())]


def test_the_readme_has_commands() -> None:
    first = commands(README.read_text())
    assert len(first) >= 10 and {a[0] for a in first} >= {"compare", "train", "measure", "sweep",
                                                          "report"}


def test_the_readme_is_read_in_ten_minutes() -> None:
    """The README is the newcomer's page; the reference lives in docs/ and the README links it."""
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    for page in PAGES[1:]:
        if page.name != "results.md":
            assert f"docs/{page.name}" in text, f"README links no docs/{page.name}"


@pytest.mark.parametrize("argv", ALL, ids=[" ".join(a) for a in ALL])
def test_every_readme_command_parses(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)  # an unknown flag exits with status 2
    assert args.command == argv[0]


def test_the_measuring_commands_run_as_written(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compare", "--out", "runs/compare", "--orders", "swap", *SMOKE]) == 0
    measuring = commands(section(GUIDE, "Measuring saturation, skewness and sparsity"))
    assert measuring and all(a[0] == "measure" for a in measuring)
    for argv in measuring:
        capsys.readouterr()
        assert cli.main(argv) == 0, (argv, capsys.readouterr().err)
    assert (tmp_path / "figs" / "layer_saturation.png").is_file()
