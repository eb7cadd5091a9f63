"""A scale's recipes chosen from its grid runs: one lr and wd per model, activation family and
order, and whether the setting trained at all.

The paper chose every setting's lr and wd from its grid (appendix A.1). At the cpu scale the
grid runs one seed per point and holds out a validation split, so the choice is made on
validation accuracy (experiments/grid.py) and the test split never decides a recipe. A setting
none of whose grid points beats chance on the validation split (a one-sided binomial test,
p < 0.001) *did not train at this budget*: the report names it so and never counts it as
support for a claim.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from ..atomic import write_text
from ..intervals import UNTRAINED
from ..presets import activation_family, recipe_key
from ..rundir import FINISHED, find_runs
from .grid import Choice, _accuracy, grid_points, load_record, select_per_setting

CHANCE_P = 1e-3  # a grid point trained when chance would reach its accuracy less often


@dataclass(frozen=True)
class Chosen:
    """One setting's grid choice."""

    experiment: str
    setting: str
    arch: str
    act: str
    order: str
    choice: Choice
    trained: bool  # some grid point beat chance on the split that chose
    chance: float  # chance accuracy, % (100 / classes)
    planned: int = 0  # the grid's runs: its points times the seeds found
    complete: bool = False  # every planned grid run has ended (completed or diverged)

    @property
    def key(self) -> str:
        """The recipe this choice is for (recipe_key), or '' for a setting that takes another's
        (no BN, NWDBN: the convention's)."""
        if self.order not in ("convention", "swap"):
            return ""
        return recipe_key(self.arch, self.act, self.order)

    @property
    def source(self) -> str:
        """How a recipe file names the grid that chose it ("chosen_from")."""
        return f"{self.experiment} {self.setting}"

    @property
    def label(self) -> str:
        return f"{self.arch}/{activation_family(self.act)}/{self.order}"


def above_chance(accuracy: float | None, images: int, classes: int) -> bool:
    """Whether `accuracy` (%) on `images` held-out images beats guessing among `classes`."""
    if accuracy is None or images < 1 or classes < 2:
        return False
    correct = round(accuracy / 100 * images)
    return stats.binomtest(correct, images, 1 / classes, alternative="greater").pvalue < CHANCE_P


def grid_records(root: str | Path) -> list[dict]:
    """The readable grid runs (tags.grid) under root."""
    records = [load_record(run.path) for run in find_runs(Path(root))]
    return [r for r in records if r is not None and (r["config"].get("tags") or {}).get("grid")]


def unfinished(records: Iterable[dict]) -> list[str]:
    """The grid runs that have not ended (no final record, failed or interrupted)."""
    return [r["run_dir"] for r in records if (r["final"] or {}).get("status") not in FINISHED]


def choose(records: Iterable[dict]) -> list[Chosen]:
    """Every setting's choice, per experiment and scale, in the order the runs were found."""
    by_experiment: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        tags = r["config"].get("tags") or {}
        key = (str(tags.get("experiment", "")), str(tags.get("scale", "")))
        by_experiment.setdefault(key, []).append(r)
    out = []
    for (exp, _scale), rs in by_experiment.items():
        for setting, choice in select_per_setting(rs).items():
            runs = [r for r in rs if (r["config"].get("tags") or {}).get("setting") == setting]
            config = runs[0]["config"]
            split = choice.criterion
            images = int(config.get("val_images") or 0) if split == "val" else 0
            classes = int(config.get("num_classes") or 10)
            trained = any(above_chance(_accuracy(r, split), images or test_images(config),
                                       classes) for r in runs)
            seeds = {r["config"].get("seed") for r in runs}
            planned = len(grid_points(str(config.get("dataset")))) * len(seeds)
            complete = len(runs) >= planned and not unfinished(runs)
            out.append(Chosen(exp, setting, str(config.get("arch")), str(config.get("act")),
                              str(config.get("order")), choice, trained, 100 / classes,
                              planned, complete))
    return out


def test_images(config: dict) -> int:
    """Test images a run was evaluated on, as config.json records them; for records without
    the count, CIFAR's 10,000 or a cautious 1,000."""
    if isinstance(config.get("test_images"), int):
        return config["test_images"]
    return 10_000 if config.get("dataset") in ("cifar10", "cifar100") else 1_000


def conflicts(chosen: list[Chosen]) -> list[str]:
    """Recipe keys that two grids chose differently (e.g. table1's and nobn's VGG16 Tanh
    convention): the table keeps the first, and these lines say so."""
    first: dict[str, Chosen] = {}
    out = []
    for c in chosen:
        if not (c.key and c.trained):
            continue
        if c.key not in first:
            first[c.key] = c
        elif (c.choice.lr, c.choice.wd) != (first[c.key].choice.lr, first[c.key].choice.wd):
            k = first[c.key]
            out.append(f"{c.key}: {k.experiment} {k.setting} chose lr {k.choice.lr:g}, wd "
                       f"{k.choice.wd:g} (kept); {c.experiment} {c.setting} chose lr "
                       f"{c.choice.lr:g}, wd {c.choice.wd:g}")
    return out


def recipe_table(chosen: list[Chosen], about: str) -> dict:
    """The recipe file's content (presets.cpu_recipes reads it): the chosen lr and wd of every
    trained setting that owns a recipe and whose grid has ended (a grid still running chooses
    nothing yet); later grids of the same key keep the first choice (`conflicts` lists where
    they differ)."""
    recipes: dict[str, dict] = {}
    for c in chosen:
        if c.key and c.trained and c.complete and c.key not in recipes:
            recipes[c.key] = {"lr": c.choice.lr, "wd": c.choice.wd,
                              "criterion": c.choice.criterion, "val_acc": c.choice.mean_val_acc,
                              "chosen_from": c.source}
    return {"about": about, "recipes": dict(sorted(recipes.items()))}


def write_recipes(path: str | Path, table: dict) -> Path:
    path = Path(path)
    write_text(path, json.dumps(table, indent=2) + "\n")
    return path


def markdown_choices(chosen: list[Chosen]) -> str:
    """One row per setting: its grid's best point, the accuracy that chose it, whether it
    trained, and the recipe its comparisons run at, which for no BN and NWDBN is the
    convention's, not their own grid's best."""
    taken = recipe_table(chosen, "")["recipes"]
    rows = ["| experiment | setting | model / activation / order | grid points run | lr | wd | "
            "chosen on | val acc (%) | test acc (%) | trained above chance | comparisons run at |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in chosen:
        ch = c.choice
        val = f"{ch.mean_val_acc:.2f}" if ch.mean_val_acc is not None else "—"
        test = f"{ch.mean_test_acc:.2f}" if ch.mean_test_acc > -1 else "—"
        trained = ("yes" if c.trained else "not yet (grid not finished)" if not c.complete
                   else f"**no** (chance {c.chance:.0f}%): {UNTRAINED}")
        done = sum(v["completed"] for v in ch.candidates.values())
        # a grid that ended at chance has no best point, only a tie among guesses, and one
        # with no finished point has none yet
        lr, wd = (("—", "—") if (c.complete and not c.trained) or not done
                  else (f"{ch.lr:g}", f"{ch.wd:g}"))
        rows.append(f"| {c.experiment} | {c.setting} | {c.label} | {done} of {c.planned} | "
                    f"{lr} | {wd} | {ch.criterion} | {val} | {test} | {trained} | "
                    f"{_runs_at(c, taken)} |")
    return "\n".join(rows)


def _runs_at(c: Chosen, taken: dict[str, dict]) -> str:
    """The recipe a setting's comparisons take (recipe_key), and whose choice it is."""
    entry = taken.get(recipe_key(c.arch, c.act, c.order))
    if entry is None:
        return "— (no recipe chosen yet)"
    whose = ("this choice" if entry["chosen_from"] == c.source
             else f"{entry['chosen_from']}'s choice")
    return f"lr {entry['lr']:g}, wd {entry['wd']:g} ({whose})"
