"""One command line: usage without a command, --version, help on every option, shared defaults,
the same --seeds syntax in compare and sweep, and error lines that name the way out."""

from __future__ import annotations

import argparse
import json

import pytest

from report_fakes import compare_groups
from swapbn import cli
from swapbn.commands.compare import EXPERIMENT, summary_row
from swapbn.commands.train import describe
from swapbn.errors import UsageError
from swapbn.report.tables import summary_table
from swapbn.training.config import TrainConfig, parse_seeds
from swapbn.version import __version__


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_bare_swapbn_prints_usage_and_every_command(capsys) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: swapbn")
    assert "batch normalization" in out  # says what the tool is for
    for name in cli.COMMANDS:
        assert f"\n    {name}" in out


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"swapbn {__version__}"


def test_every_option_of_every_command_has_a_help_line() -> None:
    missing = [f"{name} {action.option_strings or action.dest}"
               for name, parser in subparsers().items() for action in parser._actions
               if not action.help]
    assert missing == []


def test_compare_json_help_names_its_file() -> None:
    action = next(a for a in subparsers()["compare"]._actions if a.dest == "json")
    assert "compare.json" in action.help


def dry_run(argv: list[str], capsys) -> dict:
    assert cli.main([*argv, "--dry-run"]) == 0
    return json.loads(capsys.readouterr().out)


def test_train_and_compare_share_the_width_default(capsys) -> None:
    train = dry_run(["train"], capsys)
    compare = dry_run(["compare", "--seeds", "0", "--orders", "swap"], capsys)["swap-s0"]
    assert train["width"] == compare["width"] == 0.125
    paper = dry_run(["train", "--preset", "paper", "--dataset", "cifar10"], capsys)
    assert paper["width"] == 1.0  # the paper's models with the paper's recipe
    assert dry_run(["train", "--width", "0.5"], capsys)["width"] == 0.5


def test_run_lines_show_the_width() -> None:
    assert describe(TrainConfig().resolve()).startswith("vgg16_11 width 1 tanh swap")
    assert " width 0.125 " in describe(TrainConfig(width=0.125).resolve())


@pytest.mark.parametrize("tokens", [["0,1,2"], ["0", "1", "2"], ["0,1", "2"], ["0, 1,2"]])
def test_seeds_take_commas_or_spaces(tokens, capsys) -> None:
    assert parse_seeds(tokens) == [0, 1, 2]
    assert list(dry_run(["compare", "--orders", "swap", "--seeds", *tokens], capsys)) == [
        "swap-s0", "swap-s1", "swap-s2"]


def test_sweep_takes_the_same_seeds(tmp_path, capsys) -> None:
    for tokens in (["0,1"], ["0", "1"]):
        assert cli.main(["sweep", "table2", "--out", str(tmp_path / "o"), "--dry-run",
                         "--seeds", *tokens]) == 0
        out = capsys.readouterr().out
        assert "table2-tanh-swap-s0  [new]" in out and "table2-tanh-swap-s1  [new]" in out
    assert cli.main(["sweep", "table2", "--out", str(tmp_path / "o"), "--seeds", "1,1"]) == 2
    assert "distinct" in capsys.readouterr().err


@pytest.mark.parametrize("tokens, message", [(["0,x"], "comma-separated"), ([","], "one or more"),
                                             (["0", "-1"], "non-negative")])
def test_bad_seeds(tokens, message) -> None:
    with pytest.raises(UsageError, match=message):
        parse_seeds(tokens)


def test_an_occupied_output_folder_names_the_way_out(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text("")
    code = cli.main(["train", "--epochs", "1", "--train-subset", "60", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "choose another --out, or pass --resume to continue it, or --force to delete it" in err
    assert "force=True" not in err
    assert (out / "metrics.jsonl").read_text() == ""  # nothing touched


def test_one_seed_has_no_spread() -> None:
    run = {"order": "swap", "status": "completed", "final_test_acc": 91.25,
           "best_test_acc": 92.0, "avg_saturation": 0.5, "avg_skewness": 1.0,
           "avg_sparsity": 0.2}
    (group,) = compare_groups([run])
    row = summary_row(group)
    assert row["test_acc_std"] is None
    text = summary_table([group], EXPERIMENT.columns, markdown=False)
    assert "91.25" in text and "±" not in text
    two = compare_groups([run, {**run, "final_test_acc": 93.25}])
    # sample std of 91.25 and 93.25 is sqrt(2)
    assert "92.25 ± 1.41" in summary_table(two, EXPERIMENT.columns, markdown=False)
