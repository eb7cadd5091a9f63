"""The report at the cpu scale: grid runs choose recipes and are not compared, each scale gets
its own section, and a variant of the cpu scale (bf16, one shared recipe) is checked against it."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from report_fakes import ACC_STEP, SEEDS, _stats, _table2, write_run
from swapbn.report.build import build_report

STATS = _stats(2, 0.5, 0.5, 0.5)


def table2_at(root: Path, scale: str, shift: float = 0.0, acts: tuple = ("tanh",)) -> None:
    """table2's settings of these activations (two seeds) at a scale, accuracies moved by
    `shift`."""
    for f in _table2():
        if f.setting.split("/")[0] in acts and "lr=0.01" not in (f.variant or ""):
            g = dataclasses.replace(f, scale=scale, acc=f.acc + shift, variant=None,
                                    extra_tags={}, config={**f.config, "dataset": "cifar10"})
            for seed in SEEDS:
                write_run(root / scale, g, seed)


def grid_run(root: Path, order: str, lr: float, val: float) -> None:
    from swapbn.rundir import FinalRecord, RunDir
    run = RunDir(root / "grid" / f"table2-tanh-{order}-lr{lr:g}-s0")
    run.path.mkdir(parents=True)
    run.write_config({"arch": "vgg16_11", "act": "tanh", "order": order, "lr": lr, "wd": 1e-4,
                      "seed": 0, "val_images": 5000, "num_classes": 10, "dataset": "cifar10",
                      "device_name": "AMD EPYC", "threads": 1, "precision": "float32",
                      "git_commit": "0123456789abcdef", "git_dirty": False,
                      "tags": {"experiment": "table2", "scale": "cpu", "grid": True,
                               "setting": f"tanh/{order}",
                               "variant": f"tanh/{order}/lr={lr:g},wd=0.0001"}})
    run.write_metrics([{"epoch": 1, "test_acc": val - 1}])
    run.write_final(FinalRecord("completed", final_test_acc=val - 1, final_val_acc=val,
                                epochs_completed=1, seconds=1800.0, stats=STATS))


def test_grid_runs_choose_and_scales_are_checked_against_the_cpu_scale(tmp_path):
    table2_at(tmp_path, "cpu", acts=("tanh", "lecun_tanh", "softsign"))
    table2_at(tmp_path, "cpu-bf16", shift=0.5)  # within 2 sd (std sqrt(2)): no change
    table2_at(tmp_path, "cpu-shared", shift=-10.0)  # far outside: a change
    for order, lr, val in (("convention", 0.1, 50.0), ("convention", 0.01, 55.0),
                           ("swap", 0.1, 60.0), ("swap", 0.01, 58.0)):
        grid_run(tmp_path, order, lr, val)
    page, sections = build_report(tmp_path, tmp_path / "page.md")
    text = page.read_text()
    assert page == tmp_path / "page.md" and (tmp_path / "page").is_dir()
    assert [s.title for s in sections] == ["table2 (cpu)", "table2 (cpu-shared)",
                                           "table2 (cpu-bf16)"]
    # the grid chose on validation and is not one of the compared settings
    assert "## Recipes: the paper's grid at this budget" in text
    assert "| table2 | tanh/convention | vgg16_11/bounded/convention | 2 of 8 | 0.01 | 0.0001 | val | " \
           "55.00 | 54.00 | yes |" in text
    assert all(len(g.runs) == len(SEEDS) for s in sections for g in s.groups)
    # claims are paired by what they say, though the variant ran only the Tanh settings
    assert "| tanh: swap test acc > convention | +6 [" in text
    # three sections, and the two variants' checks against cpu
    assert text.count("| tanh: swap test acc > convention |") == 5
    # the bf16 variant moved the means by 0.5 (< 2 x sqrt(2)): no conclusion changed
    assert ("cpu-bf16 does not change a conclusion of table2 here: 0 of 2 claims judged come "
            "out otherwise, and 0 of 8 means moved by more than 2 standard deviations of cpu's "
            "seeds.") in text
    # 10 points down on both orders: the accuracy means moved, the claims' differences did not
    assert ("cpu-shared changes a conclusion of table2 here: 0 of 2 claims judged come out "
            "otherwise, and 2 of 8 means moved by more than 2 standard deviations of cpu's "
            "seeds.") in text
    # the difference's interval is Welch's, from scipy on the two seeds per side
    conv = np.array([60.0, 60.0 + ACC_STEP])
    ci = stats.ttest_ind(conv + 0.5, conv, equal_var=False).confidence_interval(0.95)
    assert f"+0.5 [{ci.low:+.3g}, {ci.high:+.3g}]" in text
    # compute: the grid's hours, machine and commit from config.json
    assert "| table2 grid | cpu | 4 | 2.00 | — | AMD EPYC | 1 | float32 | 0123456789 |" in text
    assert "## Not yet run at scale cpu and its variants" in text
    assert "`swapbn sweep depth --scale cpu --data-root DIR" in text
    assert "- table2 at cpu-bf16: 4 of 6 runs; `swapbn sweep table2 --scale cpu-bf16 --only " \
        "tanh/convention tanh/swap" in text  # two of three seeds were run
    # a variant's runs have the reference's run ids (in their own folder): counted by scale
    assert "- table2 at cpu-shared: 2 of 6 runs; `swapbn sweep table2 --scale cpu-shared " \
        "--data-root DIR" in text
    # the same runs give the same page
    again, _ = build_report(tmp_path, tmp_path / "page.md")
    assert again.read_text() == text


@pytest.mark.parametrize("out", ["report", "page.md"])
def test_the_page_links_its_files_from_where_it_lies(tmp_path, out):
    table2_at(tmp_path / "runs", "cpu")
    page, sections = build_report(tmp_path / "runs", tmp_path / out)
    text = page.read_text()
    for f in sections[0].files:
        link = f.relative_to(page.parent).as_posix()
        assert f"]({link})" in text


def test_a_variant_with_one_order_run_so_far_has_changed_nothing_yet(tmp_path):
    """Only the convention side of the variant has run: its claims cannot be judged yet, so
    they neither count as coming out otherwise nor let the page say the variant changes
    nothing."""
    table2_at(tmp_path, "cpu")
    table2_at(tmp_path / "partial", "cpu-bf16", shift=0.5)
    for run in (tmp_path / "partial" / "cpu-bf16").iterdir():
        if "swap" in run.name:
            shutil.rmtree(run)
    page, _ = build_report(tmp_path, tmp_path / "page.md")
    text = page.read_text()
    assert "| tanh: swap test acc > convention | +6 [" in text
    assert "| — n/a | — (not judged yet) |" in text
    assert ("cpu-bf16 has not changed a conclusion of table2 here: 0 of 0 claims judged come "
            "out otherwise (2 not judged yet), and 0 of 4 means moved by more than 2 standard "
            "deviations of cpu's seeds.") in text


def test_one_scale_alone_is_not_checked_against_itself(tmp_path):
    """Runs of one scale only form a section without a scale name; the variant check compares
    a variant with its reference and so has nothing to say here."""
    table2_at(tmp_path, "cpu", acts=("tanh",))
    page = build_report(tmp_path, tmp_path / "page.md")[0].read_text()
    assert "## table2" in page
    assert "Does a variant of a scale change its conclusions?" not in page
    assert "None against None" not in page


def compute_rows(page: Path) -> dict[str, list[str]]:
    """The Compute table's rows by 'experiment scale', cells stripped."""
    text = page.read_text().split("## Compute", 1)[1]
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    head, *body = rows
    return {f"{r[0]} {r[1]}": dict(zip(head, r, strict=True)) for r in body}


def test_the_compute_table_gives_the_sweeps_wall_time(tmp_path, capsys):
    table2_at(tmp_path, "cpu")
    grid_run(tmp_path, "swap", 0.01, 60.0)
    runs = sorted(p.name for p in (tmp_path / "cpu").iterdir())
    assert len(runs) == 4
    line = {"started": "2026-01-01T00:00:00+00:00", "ended": "interrupted", "backend": "local",
            "workers": 2, "cpus_per_run": 1}
    log = tmp_path / "cpu" / "sweeps.jsonl"
    # The first sweep ran all four runs and was stopped after three had finished.
    log.write_text(json.dumps({**line, "seconds": 5400, "ran": runs, "finished": runs[:3]})
                   + "\n")
    page, _ = build_report(tmp_path, tmp_path / "page")
    table = compute_rows(page)
    assert table["table2 cpu"]["wall (h)"] == "≥ 1.50"  # one run finished outside it
    assert table["table2 cpu"]["compute (h)"] == f"{4 * 3.0 / 3600:.2f}"
    assert table["table2 grid cpu"]["wall (h)"] == "—"  # no sweep recorded
    assert table["table2 grid cpu"]["compute (h)"] == "0.50"
    # The second finished the fourth: both sweeps count, and every run is accounted for.
    with log.open("a") as f:
        f.write(json.dumps({**line, "ended": "finished", "seconds": 1800, "ran": runs[3:],
                            "finished": runs[3:]}) + "\n")
    page, _ = build_report(tmp_path, tmp_path / "page")
    assert compute_rows(page)["table2 cpu"]["wall (h)"] == "2.00"
    # A corrupt record is left out with one line naming it; the page still builds.
    with log.open("a") as f:
        f.write('{"seconds": 12, "ran": [\n')
    capsys.readouterr()
    page, _ = build_report(tmp_path, tmp_path / "page")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sweeps.jsonl line 3: not valid JSON" in err
    assert compute_rows(page)["table2 cpu"]["wall (h)"] == "—"
