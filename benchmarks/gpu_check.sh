#!/usr/bin/env bash
# The GPU check, for when a GPU is lent: run unattended from a fresh checkout with ../shared
# beside it, in at most 8 minutes on one GPU.
#   1. installs what it needs (only when the python in use lacks it),
#   2. runs the test suite's CUDA tests (pytest -m cuda: training steps, amp, channels_last,
#      measure on CUDA against the CPU, data held on the device),
#   3. times VGG16_11 at full width on the shared CIFAR-10 for a fixed number of steps in
#      float32/TF32, bf16 and compiled, and prints images per second and the projected time
#      of the paper's 200-epoch CIFAR run for each, then what measuring the test split costs
#      next to evaluating it, with and without the fused kernels (benchmarks/gpu_speed.py).
# Results go to $OUT/gpu_check/ (gpu_speed.json, tests.txt) when OUT is set, else to
# ./gpu_check/. Copy gpu_speed.json to src/swapbn/experiments/gpu_speed.json to make
# `swapbn experiments` print the measured GPU estimate.
set -euo pipefail

usage() {
    echo "usage: benchmarks/gpu_check.sh [--steps N] [--device DEV] [--dataset NAME]" \
         "[--width W] [--variants LIST] [--skip-tests]"
}

steps=100
device=cuda
dataset=cifar10
width=1.0
variants=tf32,bf16,compiled
skip_tests=0
while [ $# -gt 0 ]; do
    case "$1" in
        --steps|--device|--dataset|--width|--variants)
            if [ $# -lt 2 ]; then echo "gpu_check.sh: $1 needs a value" >&2; exit 2; fi
            case "$1" in
                --steps) steps=$2 ;; --device) device=$2 ;; --dataset) dataset=$2 ;;
                --width) width=$2 ;; --variants) variants=$2 ;;
            esac
            shift 2 ;;
        --skip-tests) skip_tests=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$steps" in ''|*[!0-9]*|0) echo "gpu_check.sh: --steps needs a positive whole number, got $steps" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
results=${OUT:-$here}/gpu_check
mkdir -p "$results"
python=${PYTHON:-python3}

# 1. What it needs: torch and the test tools; installed only when missing.
if ! "$python" -c "import torch, numpy, scipy, pytest, hypothesis, PIL, torchvision" 2>/dev/null; then
    "$python" -m pip install -q -e ".[dev]"
fi
export PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}"
"$python" -c "import torch; print('torch', torch.__version__, '| CUDA', torch.cuda.is_available(), '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"

# 2. The CUDA tests.
if [ "$skip_tests" = 0 ]; then
    timeout 240 "$python" -m pytest -q -p no:cacheprovider -m cuda tests 2>&1 \
        | tee "$results/tests.txt"
fi

# 3. The timing on the shared CIFAR-10 (extracted once into a scratch folder).
root_args=()
if [ "$dataset" = cifar10 ]; then
    tarball="$here/../shared/data/cifar10-jpeg.tar.gz"  # ../shared beside the checkout,
    [ -f "$tarball" ] || tarball="$here/shared/data/cifar10-jpeg.tar.gz"  # or shared/ in it
    if [ ! -f "$tarball" ]; then
        echo "gpu_check.sh: no shared/data/cifar10-jpeg.tar.gz beside or in $here (--dataset digits runs without it)" >&2
        exit 2
    fi
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    tar -xzf "$tarball" -C "$scratch"
    root_args=(--data-root "$scratch")
fi
timeout 360 "$python" benchmarks/gpu_speed.py --dataset "$dataset" "${root_args[@]}" \
    --width "$width" --steps "$steps" --device "$device" --variants "$variants" \
    --out "$results"
echo "results in $results"
