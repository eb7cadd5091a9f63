"""A training setting is one dataclass field: its flag, its help's default, its type in
config.json and whether two runs differ by it all come from the field, and one function
decides when a recorded run is the run asked for (sweeps, resume, compare)."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import pytest

from swapbn import cli
from swapbn.commands import train as train_command
from swapbn.errors import RecordError, UsageError
from swapbn.experiments import SCALES, plan
from swapbn.experiments.runner import check_existing
from swapbn.rundir import CONFIG_TYPES, FinalRecord, RunDir
from swapbn.training import TrainConfig
from swapbn.training.config import DEFAULT_EPOCHS, DEFAULT_WIDTH
from swapbn.training.loop import claim_output
from swapbn.training.settings import HOW, LABEL, WHAT, WHERE, setting


@dataclass
class Wider(TrainConfig):
    """TrainConfig with two more settings, declared as a new setting is: one field each."""

    smoothing: float = setting(0.0, group="recipe", help="label smoothing (default {default})")
    prefetch: int | None = setting(None, kind=HOW, group="running", metavar="N",
                                   help="batches loaded ahead")


def parser_of(config_type, monkeypatch) -> argparse.ArgumentParser:
    monkeypatch.setattr(train_command, "TrainConfig", config_type)
    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    return parser


def help_of(parser: argparse.ArgumentParser, dest: str) -> str:
    return next(a for a in parser._actions if a.dest == dest and a.help).help


# ---------------------------------------------------------------- one field, everything else


def test_a_new_field_is_a_flag_a_record_type_and_part_of_sameness(monkeypatch) -> None:
    parser = parser_of(Wider, monkeypatch)
    assert help_of(parser, "smoothing") == "label smoothing (default 0)"
    args = parser.parse_args(["--smoothing", "0.1", "--prefetch", "4", "--lr", "0.2"])
    config = train_command.config_from_args(args)
    assert isinstance(config, Wider)
    assert (config.smoothing, config.prefetch, config.lr) == (0.1, 4, 0.2)
    assert train_command.config_from_args(parser.parse_args([])).smoothing == 0.0

    types = Wider.record_types()
    assert types["smoothing"] == (int, float) and types["prefetch"] == (int, type(None))
    planned = Wider(smoothing=0.1, prefetch=4).resolve().to_dict()
    assert Wider.differences({**planned, "smoothing": 0.0}, planned, finished=True) == [
        "smoothing"]  # what the run computes
    assert Wider.differences({**planned, "prefetch": 1}, planned, finished=False) == []  # how


def test_every_setting_is_a_record_type_config_json_is_checked_by() -> None:
    types = TrainConfig.record_types()
    assert {k: CONFIG_TYPES[k] for k in types} == types
    assert types["epochs"] == (int,)  # filled by resolve(): never null in a record
    assert types["train_subset"] == (int, type(None))
    assert types["lr"] == types["width"] == (int, float)
    assert types["act_kwargs"] == (dict, type(None)) and types["milestones"] == (list,)
    assert types["channels_last"] == (bool,) and types["tags"] == (dict,)
    assert CONFIG_TYPES["num_classes"] == (int,)  # what the run adds about its data


def read_config(path) -> dict | None:
    return RunDir(path).config


def test_config_json_with_a_setting_of_the_wrong_type_is_refused(tmp_path) -> None:
    config = TrainConfig().resolve().to_dict()
    (tmp_path / "config.json").write_text(json.dumps({**config, "compile": "yes"}))
    with pytest.raises(RecordError, match="field 'compile' must be bool, found 'yes'"):
        read_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "epochs": None}))
    with pytest.raises(RecordError, match="field 'epochs' must be int, found None"):
        read_config(tmp_path)


def test_help_shows_the_defaults_of_the_fields_and_the_recipe(monkeypatch) -> None:
    parser = parser_of(TrainConfig, monkeypatch)
    assert help_of(parser, "epochs") == f"default {DEFAULT_EPOCHS} (or the preset's)"
    assert help_of(parser, "width").startswith(f"channel multiplier (default {DEFAULT_WIDTH:g};")
    assert help_of(parser, "momentum") == f"SGD momentum (default {TrainConfig.momentum:g})"
    assert "(default on:" in help_of(parser, "channels_last")
    assert "50%% and 75%% of the epochs" in help_of(parser, "milestones")  # argparse's escape
    assert not [a.dest for a in parser._actions if "{" in (a.help or "")]


def test_old_flag_spellings_still_parse(monkeypatch) -> None:
    parser = parser_of(TrainConfig, monkeypatch)
    old = parser.parse_args(["--val-split", "50", "--track-stats", "2", "--amp"])
    new = parser.parse_args(["--val-images", "50", "--stats-every", "2", "--precision", "bf16"])
    assert vars(old) == vars(new)
    assert (new.val_images, new.stats_every, new.precision) == (50, 2, "bf16")


def test_flags_not_given_keep_the_fields_defaults(capsys) -> None:
    assert cli.main(["train", "--dry-run"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config == TrainConfig(width=DEFAULT_WIDTH).resolve().to_dict()


# ---------------------------------------------------------------- when two runs are the same


KIND_OF = {"seed": WHAT, "data_root": WHERE, "device": WHERE, "compile": HOW,
           "channels_last": HOW, "deterministic": HOW, "tags": LABEL}


@pytest.mark.parametrize(("finished", "labels", "counted"), [
    (True, True, {"seed", "tags"}),  # a sweep's finished run: made elsewhere is the same run
    (False, True, {"seed", "data_root", "device", "tags"}),  # its checkpoint continues here only
    (True, False, {"seed"}),  # a lone train call does not file runs by tags
    (False, False, {"seed", "data_root", "device"}),
])
def test_which_differences_make_another_run(finished, labels, counted) -> None:
    planned = TrainConfig().resolve().to_dict()
    for name, kind in KIND_OF.items():
        other = {"seed": 1, "data_root": "/elsewhere", "device": "cuda:1", "compile": True,
                 "channels_last": False, "deterministic": True, "tags": {"scale": "cpu"}}[name]
        recorded = {**planned, name: other, "threads": 7, "device_name": "elsewhere"}
        verdict = TrainConfig.differences(recorded, planned, finished=finished, labels=labels)
        assert verdict == ([name] if name in counted else []), (name, kind)
    assert TrainConfig.differences(planned, planned, finished=False) == []


def test_every_field_of_kind_how_is_the_same_run_everywhere() -> None:
    planned = TrainConfig().resolve().to_dict()
    for f, s in TrainConfig.settings():
        if s.kind == HOW:
            recorded = {**planned, f.name: not planned[f.name]}
            assert not TrainConfig.differences(recorded, planned, finished=False)
    assert {f.name for f, s in TrainConfig.settings() if s.kind == HOW} == {
        "channels_last", "compile", "deterministic"}


def write_run(path, config: dict, final: FinalRecord | None) -> RunDir:
    run = RunDir(path)
    run.path.mkdir(parents=True, exist_ok=True)
    run.write_config(config)
    run.write_metrics([])
    if final is not None:
        run.write_final(final)
    return run


# A finished run whose record is whole without measurements (a completed one needs them).
DONE = FinalRecord("diverged", epochs_completed=0, error="training loss became nan in epoch 1")


def test_resume_takes_a_finished_run_made_elsewhere_and_continues_only_its_own(tmp_path):
    config = TrainConfig(epochs=1).resolve()
    elsewhere = {**config.to_dict(), "device": "cuda:3", "tags": {"experiment": "compare"}}
    done = write_run(tmp_path / "done", elsewhere, DONE)
    assert claim_output(done, config, resume=True, force=False) == DONE
    unfinished = write_run(tmp_path / "unfinished", elsewhere, None)
    with pytest.raises(UsageError, match="differs in device;"):
        claim_output(unfinished, config, resume=True, force=False)
    compiled = write_run(tmp_path / "compiled", {**config.to_dict(), "compile": True}, None)
    assert claim_output(compiled, config, resume=True, force=False) is None  # continue it


def test_a_sweep_decides_the_same_way(tmp_path) -> None:
    spec = plan("nobn", SCALES["smoke"])[0]
    (new,) = check_existing([spec], tmp_path)
    run = tmp_path / spec.run_id

    def state(changes: dict, final: FinalRecord | None) -> str:
        write_run(run, {**new.config, **changes}, final)
        if final is None:
            (run / "final.json").unlink(missing_ok=True)
        (planned,) = check_existing([spec], tmp_path)
        return planned.state

    assert state({"device": "cuda:3", "compile": True}, DONE) == "done"
    assert state({"device": "cuda:3"}, None) == "changed"  # its checkpoint continues there only
    assert state({"compile": True}, None) == "resume"
    assert state({"tags": {**new.config["tags"], "scale": "cpu"}}, DONE) == "changed"
