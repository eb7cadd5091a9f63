"""Run directories as pandas data frames, for analysis in a notebook.

`load_runs(DIR)`: one row per run (its configuration, tags, status, accuracies and the model
averages of the paper's measures on the test split); `load_layers(DIR)`: one row per run and
layer of its final measurement. The grouping keys are the report's own (`experiment`,
`setting`, `variant`, `scale`, `selected` for the grid selection, `order` with `nwdbn` for
NWDBN), so any table of `swapbn report` is one `groupby` away, e.g.

    runs = load_runs("runs")
    runs[runs.completed].groupby(["experiment", "setting"]).test_acc.agg(["mean", "std"])

pandas is an optional extra (`pip install 'swapbn[pandas]'`); the command line never needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..metrics.measure import layer_numbers
from .aggregate import MODEL_METRICS, SETTING_KEYS, Group, group_runs, model_value
from .runs import Run, find_runs

if TYPE_CHECKING:
    import pandas as pd

LAYER_FIELDS = ("name", "kind", "channels", "saturation", "skewness", "skewness_signed",
                "constant_channels", "sparsity", "empirical_saturation",
                "act_empirical_saturation", "bound")


def _pandas():
    try:
        import pandas
    except ImportError:
        raise UsageError("data frames need pandas: pip install 'swapbn[pandas]'") from None
    return pandas


def _groups(root: str | Path) -> list[tuple[Group, Run]]:
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    return [(g, r) for groups in group_runs(find_runs(root)).values() for g in groups
            for r in g.runs]


def _identity(root: Path, g: Group, r: Run) -> dict:
    """The columns that name a run: where it is and the report's grouping keys."""
    return {"run": str(r.path.relative_to(root)) if r.path.is_relative_to(root) else str(r.path),
            "experiment": g.experiment, "setting": g.setting, "variant": g.variant,
            "scale": r.scale, "seed": r.seed, "selected": g.selected,
            **{k: r.key(k) for k in SETTING_KEYS}}


def _config_columns(config: dict) -> dict:
    """Config fields with single values (lists and dicts such as versions stay out) and the
    tags as `tags.<key>`."""
    out = {k: v for k, v in config.items()
           if k != "tags" and (v is None or isinstance(v, (str, int, float, bool)))}
    out.update({f"tags.{k}": v for k, v in (config.get("tags") or {}).items()})
    return out


def load_runs(root: str | Path) -> pd.DataFrame:
    """One row per run directory under root: config fields, tags, status, accuracies and the
    model averages (test_acc is the final test accuracy, as in the report)."""
    pandas = _pandas()
    root = Path(root)
    rows = []
    for g, r in _groups(root):
        row = {**_config_columns(r.config), **_identity(root, g, r), "status": r.status,
               "completed": r.completed,
               "best_test_acc": r.final.get("best_test_acc"),
               "epochs_completed": r.final.get("epochs_completed"),
               "seconds": r.final.get("seconds")}
        row.update({m: model_value(r, m) for m in MODEL_METRICS})
        rows.append(row)
    return pandas.DataFrame(rows)


def load_layers(root: str | Path) -> pd.DataFrame:
    """One row per run and layer of the final measurement (runs without one have no rows):
    the run's identity, `layer` (its number in forward order, from 1 as in the tables and
    figures) and the layer's measures."""
    pandas = _pandas()
    root = Path(root)
    rows = []
    for g, r in _groups(root):
        ident = {**_identity(root, g, r), "status": r.status, "completed": r.completed}
        layers = r.stats.get("layers") or []
        for i, layer in zip(layer_numbers(len(layers)), layers, strict=True):
            rows.append({**ident, "layer": i, **{k: layer.get(k) for k in LAYER_FIELDS}})
    return pandas.DataFrame(rows)
