"""The paper's hyperparameter grid and its selection rule (appendix A.1).

The paper trains every setting with lr {0.1, 0.01} x wd {5e-3, 1e-3, 5e-4, 1e-4} (ImageNet: wd
{1e-3, 5e-4, 1e-4}) and 3 seeds, then keeps the grid point with the best test accuracy averaged
over the seeds -- not the best single seed, which would reward seed luck. Where the grid's runs
hold out a validation split (the cpu scale's), the choice is made on validation accuracy
instead, so the test split never decides a recipe.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RecordError
from ..intervals import Summary
from ..rundir import RunDir

GRID_LRS: tuple[float, ...] = (0.1, 0.01)
GRID_WDS: tuple[float, ...] = (5e-3, 1e-3, 5e-4, 1e-4)
GRID_WDS_IMAGENET: tuple[float, ...] = (1e-3, 5e-4, 1e-4)


def grid_points(dataset: str) -> list[dict]:
    """The paper's (lr, wd) grid for a data set, as TrainConfig overrides."""
    wds = GRID_WDS_IMAGENET if dataset == "imagenet" else GRID_WDS
    return [{"lr": lr, "wd": wd} for lr in GRID_LRS for wd in wds]


@dataclass(frozen=True)
class Choice:
    """The selected grid point of one setting."""

    setting: str
    variant: str
    lr: float | None
    wd: float | None
    mean_test_acc: float
    seeds: tuple[int, ...]
    run_dirs: tuple[str, ...] = ()
    # Every variant of the setting with its mean accuracy and completed / total seeds.
    candidates: dict = field(default_factory=dict)
    # What chose: "val" (final validation accuracy) where every run has one, else "test".
    criterion: str = "test"
    mean_val_acc: float | None = None

    def to_dict(self) -> dict:
        return {"setting": self.setting, "variant": self.variant, "lr": self.lr, "wd": self.wd,
                "criterion": self.criterion, "mean_val_acc": self.mean_val_acc,
                "mean_test_acc": self.mean_test_acc, "seeds": list(self.seeds),
                "run_dirs": list(self.run_dirs), "candidates": self.candidates}


def load_record(run_dir: str | Path) -> dict | None:
    """{config, final, run_dir} of a run directory (final is {} while it has not finished);
    None when it holds no readable configuration."""
    run = RunDir(run_dir)
    try:
        config, final = run.config, run.final
    except RecordError:
        return None  # unreadable: the sweep lists it as left out
    if config is None:
        return None
    return {"config": config, "final": final.to_dict() if final else {}, "run_dir": str(run.path)}


def _records(runs: Iterable[str | Path | dict]) -> list[dict]:
    records = [r if isinstance(r, dict) else load_record(r) for r in runs]
    return [r for r in records if r is not None]


def _accuracy(record: dict, split: str = "test") -> float | None:
    final = record.get("final") or {}
    acc = final.get(f"final_{split}_acc")
    if final.get("status") != "completed" or acc is None or not math.isfinite(acc):
        return None
    return float(acc)


def select_per_setting(runs: Iterable[str | Path | dict]) -> dict[str, Choice]:
    """The best grid point of every setting: {setting: Choice}.

    Runs (run directories or {config, final} records) are grouped by tags.setting and
    tags.variant. A variant's score is its mean final validation accuracy over its seeds when
    the setting's runs hold out a validation split (a run without a validation accuracy then
    counts as not completed), else its mean final test accuracy (the paper's rule). A seed that diverged or failed counts against its variant: variants with every seed
    completed rank above those without, then by mean accuracy; ties go to the first variant in
    run order.
    """
    groups: dict[str, dict[str, list[dict]]] = {}
    for record in _records(runs):
        tags = record["config"].get("tags") or {}
        variant = tags.get("variant", "")
        setting = tags.get("setting", variant)
        groups.setdefault(setting, {}).setdefault(variant, []).append(record)
    choices = {}
    for setting, variants in groups.items():
        split = "val" if any(r["config"].get("val_images") for rs in variants.values()
                             for r in rs) else "test"
        scored = []
        candidates = {}
        for variant, records in variants.items():
            means = {s: Summary.of(_accuracy(r, s) for r in records).mean
                     for s in ("test", "val")}
            done = sum(_accuracy(r, split) is not None for r in records)
            candidates[variant] = {"mean_test_acc": means["test"], "mean_val_acc": means["val"],
                                   "completed": done, "runs": len(records)}
            score = means[split] if means[split] is not None else -math.inf
            scored.append(((done == len(records), score), variant, records, means))
        best_key = max(s[0] for s in scored)
        _, variant, records, means = next(s for s in scored if s[0] == best_key)
        config = records[0]["config"]
        choices[setting] = Choice(
            setting=setting, variant=variant, lr=config.get("lr"), wd=config.get("wd"),
            mean_test_acc=means["test"] if means["test"] is not None else -math.inf,
            seeds=tuple(sorted(r["config"].get("seed", 0) for r in records)),
            run_dirs=tuple(r.get("run_dir", "") for r in records), candidates=candidates,
            criterion=split, mean_val_acc=means["val"])
    return choices


def select_best(runs: Iterable[str | Path | dict]) -> Choice:
    """The grid point with the best mean test accuracy over seeds, among runs of one setting.

    Raises ValueError if the runs span several settings (use `select_per_setting`).
    """
    choices = select_per_setting(runs)
    if len(choices) != 1:
        raise ValueError(f"select_best needs the runs of one setting, got {len(choices)} "
                         f"({', '.join(choices) or 'none'}); use select_per_setting")
    return next(iter(choices.values()))
