"""Bad input on the command line: exit status 2 and one line naming the problem and the choices."""

from __future__ import annotations

import pytest

from swapbn import cli

CASES = {
    "unknown arch": (["train", "--arch", "resnet50"],
                     ["unknown model 'resnet50'", "vgg16_11", "mobilenet"]),
    "unknown activation": (["train", "--act", "gelu"],
                           ["unknown activation 'gelu'", "tanh", "lecun_tanh", "softsign"]),
    "unknown order": (["train", "--order", "bnfirst"],
                      ["unknown order 'bnfirst'", "convention", "swap", "nobn"]),
    "unknown dataset": (["train", "--dataset", "mnist"],
                        ["unknown data set 'mnist'", "digits", "cifar10", "cifar100"]),
    "negative lr": (["train", "--lr", "-0.1"], ["learning rate must be positive", "-0.1"]),
    "milestone past the end": (["train", "--epochs", "10", "--milestones", "5,12"],
                               ["milestones must lie in 1..10", "5,12"]),
    "milestones not increasing": (["train", "--epochs", "10", "--milestones", "6,3"],
                                  ["milestones must be increasing", "6,3"]),
    "batch size zero": (["train", "--batch-size", "0"], ["batch size must be at least 1"]),
    "missing data root": (["train", "--dataset", "cifar10", "--data-root", "/nonexistent/cifar"],
                          ["data root /nonexistent/cifar does not exist"]),
    "preset without a table": (["train", "--preset", "paper"],
                               ["no recipe for data set 'digits'", "cifar10, cifar100, "
                                "tinyimagenet, imagenet"]),
    "unknown preset": (["train", "--preset", "fast", "--dataset", "cifar10"],
                       ["unknown preset 'fast'", "paper"]),
    "bad act kwargs": (["train", "--act", "shifted_tanh", "--act-kwargs", "dx"],
                       ["--act-kwargs needs name=number pairs"]),
    "unknown precision": (["train", "--precision", "fp16"],
                          ["unknown precision 'fp16'", "auto, float32, bf16"]),
    "zero threads": (["train", "--threads", "0"], ["--threads must be at least 1"]),
    "compare unknown order": (["compare", "--orders", "convention,bnfirst"],
                              ["unknown order 'bnfirst'", "convention, swap, nwdbn, nobn"]),
    "compare bad seeds": (["compare", "--seeds", "0,one"], ["--seeds needs comma-separated"]),
    "compare negative lr": (["compare", "--lr", "-1"], ["learning rate must be positive"]),
    "compare no seeds": (["compare", "--seeds", ","], ["--seeds needs one or more"]),
    "compare negative seed": (["compare", "--seeds", "0,-1"], ["--seeds needs one or more"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case: str, capsys, tmp_path) -> None:
    argv, expected = CASES[case]
    code = cli.main([*argv, "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1, captured.err
    line = captured.err.strip()
    assert line.startswith(f"swapbn {argv[0]}: error: ")
    for text in expected:
        assert text in line
    assert captured.out == ""
    assert not (tmp_path / "run").exists()  # nothing written, nothing trained


def test_argument_type_errors_are_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "--epochs", "ten"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--epochs" in err and "'ten'" in err


@pytest.mark.parametrize("argv", [
    ["train", "--epochs", "1", "--train-subset", "50", "--quiet", "--out"],
    ["theory", "--quiet", "--out"],
])
def test_an_output_path_that_is_a_file_is_one_line(argv: list[str], capsys, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me\n")
    code = cli.main([*argv, str(blocker / "sub")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.count("\n") == 1, captured.err
    assert blocker.read_text() == "keep me\n"  # nothing written over it
