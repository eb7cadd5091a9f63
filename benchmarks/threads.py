"""CPU thread settings for training, with and without a competing load on every core.

Each option trains the `make run` model (vgg16_11 width 1/8, tanh, swap, digits-shaped 1x32x32
batches of 64) for a fixed number of SGD steps in a fresh process, so OMP_WAIT_POLICY and the
thread pools start as a user's run would. The competing load is a second process running a
float32 matrix-multiply loop with PyTorch's default threads (one per core). Options and load
conditions are interleaved over rounds; the table gives the median seconds per step and each
option's ratio to the best option in the same condition (timings on a shared machine are
noisy; compare the ratios).

    python benchmarks/threads.py                 # prints the table, appends a line to results.md
    python benchmarks/threads.py --steps 40 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results import record

ROOT = Path(__file__).resolve().parents[1]

# name -> (environment, arguments of the worker: threads ("auto" = swapbn's default), interop)
OPTIONS: dict[str, tuple[dict[str, str], list[str]]] = {
    "torch default": ({}, ["none", "none"]),
    "1 thread": ({}, ["1", "none"]),
    "1 thread, 1 interop": ({}, ["1", "1"]),
    "all cores, OMP_WAIT_POLICY=PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, ["all", "none"]),
    "free cores (swapbn default)": ({}, ["auto", "none"]),
}

WORKER = r"""
import sys, time, torch
threads, interop, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
if interop != "none":
    torch.set_num_interop_threads(int(interop))
if threads == "auto":
    from swapbn.training.threads import apply_threads
    apply_threads(None)
elif threads == "all":
    import os
    torch.set_num_threads(len(os.sched_getaffinity(0)))
elif threads != "none":
    torch.set_num_threads(int(threads))
from swapbn import build_model
torch.manual_seed(0)
model = build_model("vgg16_11", num_classes=10, act="tanh", order="swap", width=0.125,
                    in_channels=1, image_size=32)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x, y = torch.randn(64, 1, 32, 32), torch.randint(0, 10, (64,))
def step():
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
for _ in range(3):
    step()
t = time.perf_counter()
for _ in range(steps):
    step()
print((time.perf_counter() - t) / steps, torch.get_num_threads())
"""

LOAD = r"""
import torch
a = torch.randn(512, 512)
while True:
    a = torch.tanh(a @ a)
"""


def run_option(name: str, steps: int) -> tuple[float, int]:
    env_extra, worker_args = OPTIONS[name]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **env_extra}
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(key, None)  # each option chooses its own
    out = subprocess.run([sys.executable, "-c", WORKER, *worker_args, str(steps)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--steps", type=int, default=30, help="timed SGD steps per option")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-append", action="store_true", help="print only")
    args = p.parse_args()
    times: dict[tuple[str, str], list[float]] = {}
    used: dict[tuple[str, str], int] = {}
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    for _ in range(args.rounds):
        for condition in ("no extra load", "competing load"):
            load = None
            if condition == "competing load":
                load = subprocess.Popen([sys.executable, "-c", LOAD], env=env)
                time.sleep(2.0)  # the load is running on every core before the option starts
            try:
                for name in OPTIONS:
                    seconds, threads = run_option(name, args.steps)
                    times.setdefault((condition, name), []).append(seconds)
                    used[(condition, name)] = threads
                    print(f"{condition:<15} {name:<36} {threads} threads "
                          f"{1000 * seconds:8.1f} ms/step", file=sys.stderr, flush=True)
            finally:
                if load is not None:
                    load.kill()
                    load.wait()
    cores = len(os.sched_getaffinity(0))
    load_before = os.getloadavg()[0]
    lines = [f"threads.py: {cores} cores, load average before {load_before:.1f}; "
             f"{args.steps} steps x {args.rounds} rounds", "",
             "| option | condition | threads | ms/step (median) | x best in condition |",
             "|---|---|---|---|---|"]
    ratios = {}
    for condition in ("no extra load", "competing load"):
        medians = {n: statistics.median(times[(condition, n)]) for n in OPTIONS}
        best = min(medians.values())
        for name in OPTIONS:
            lines.append(f"| {name} | {condition} | {used[(condition, name)]} | "
                         f"{1000 * medians[name]:.1f} | {medians[name] / best:.2f} |")
            ratios[f"{name} ({condition}) / best"] = medians[name] / best
    print("\n".join(lines))
    if not args.no_append:
        record(f"threads: make run model, {args.steps} steps x {args.rounds} rounds, load "
               f"average before {load_before:.1f}", ratios)


if __name__ == "__main__":
    main()
