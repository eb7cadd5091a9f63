"""The README's headline is the committed evidence: every number of its table is recomputed here
from the records in results/cpu/table2 (final.json of each completed run), with float64 NumPy
for means and standard deviations and scipy's Welch t test for the intervals, independently of
the report's code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TABLE2 = REPO / "results" / "cpu" / "table2"
ACTS = {"Tanh": "tanh", "LeCun Tanh": "lecun_tanh", "Softsign": "softsign"}
METRICS = {"test acc (%)": "final_test_acc", "avg skewness": "avg_skewness",
           "avg sparsity": "avg_sparsity"}
NUMBER = r"[-+−]?\d+(?:\.\d+)?"
ROW = re.compile(
    rf"^\| (?P<act>{'|'.join(ACTS)}): (?P<metric>{'|'.join(re.escape(m) for m in METRICS)}) "
    rf"\| (?P<n>\d+) \| [^|]* \| (?P<a>{NUMBER}) ± (?P<sa>{NUMBER}) \| (?P<b>{NUMBER}) ± "
    rf"(?P<sb>{NUMBER}) \| (?P<d>{NUMBER}) \[(?P<lo>{NUMBER}), (?P<hi>{NUMBER})\] \| "
    rf"(?P<verdict>holds|opposite|not resolved) \|$", re.M)


def values(act: str, order: str, metric: str) -> np.ndarray:
    """The metric of every completed seed of table2's act/order at the cpu scale."""
    out = []
    for final in sorted(TABLE2.glob(f"table2-{act}-{order}-s*/final.json")):
        record = json.loads(final.read_text())
        config = json.loads((final.parent / "config.json").read_text())
        if record["status"] != "completed" or config["tags"].get("scale") != "cpu":
            continue
        out.append(record[metric] if metric in record else record["stats"][metric])
    return np.asarray(out, dtype=np.float64)


def close(shown: str, exact: float) -> bool:
    """Whether `shown` is `exact` rounded to the digits it shows (or to 3 significant ones)."""
    shown = shown.replace("−", "-")
    decimals = len(shown.split(".")[1]) if "." in shown else 0
    return abs(float(shown) - exact) <= 0.5 * 10 ** -decimals + 1e-9 * max(1.0, abs(exact))


def test_the_headline_is_the_committed_table2():
    text = README.read_text()
    section = text[text.index("## The result"):text.index("\n## ", text.index("## The result"))]
    rows = list(ROW.finditer(section))
    if not rows:
        pytest.skip("the README shows no headline table yet")
    assert "docs/results.md" in section
    for row in rows:
        act, metric = ACTS[row["act"]], METRICS[row["metric"]]
        conv, swap = values(act, "convention", metric), values(act, "swap", metric)
        assert int(row["n"]) == len(conv) == len(swap) >= 2, row[0]
        assert close(row["a"], conv.mean()) and close(row["sa"], conv.std(ddof=1)), row[0]
        assert close(row["b"], swap.mean()) and close(row["sb"], swap.std(ddof=1)), row[0]
        ci = stats.ttest_ind(swap, conv, equal_var=False).confidence_interval(0.95)
        assert close(row["d"], swap.mean() - conv.mean()), row[0]
        assert close(row["lo"], ci.low) and close(row["hi"], ci.high), row[0]
        verdict = "holds" if ci.low > 0 else "opposite" if ci.high < 0 else "not resolved"
        assert row["verdict"] == verdict, row[0]


def hours_minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min"


def sweep_seconds(folder: Path, experiment: str) -> float:
    """Wall seconds of the sweeps recorded in folder/sweeps.jsonl that ran this experiment."""
    lines = [json.loads(line) for line in (folder / "sweeps.jsonl").read_text().splitlines()]
    return sum(line["seconds"] for line in lines
               if any(r.startswith(f"{experiment}-") for r in line["ran"]))


def test_the_headline_times_are_the_recorded_ones():
    text = README.read_text()
    section = text[text.index("## The result"):text.index("\n## ", text.index("## The result"))]
    found = re.search(r"The (\d+) runs took (\d+ h \d+ min) of wall time \(([\d.]+) "
                      r"compute-hours\).*?the grid that chose the recipes\s+took another "
                      r"(\d+ h \d+ min)", section, re.S)
    if not found:
        pytest.skip("the README gives no wall time yet")
    finals = [json.loads(p.read_text()) for p in TABLE2.glob("table2-*-s*/final.json")]
    assert int(found[1]) == len(finals)
    assert found[2] == hours_minutes(sweep_seconds(TABLE2, "table2"))
    assert close(found[3], sum(f["seconds"] for f in finals) / 3600)
    assert found[4] == hours_minutes(sweep_seconds(TABLE2.parent / "grid", "table2"))
