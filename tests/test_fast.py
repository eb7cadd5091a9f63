"""The training step's fast path: channels_last, compile wiring, backend settings, precision;
and, on a CUDA machine (tests marked `cuda`), the same steps and measurements on the GPU."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from swapbn import build_model
from swapbn.data import load_dataset
from swapbn.metrics import measure
from swapbn.training import TrainConfig, train
from swapbn.training.fast import backend_settings, compute_mode, in_memory_format, prepare_model

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def model_pair(channels_last: bool, device: str = "cpu"):
    torch.manual_seed(0)
    model = build_model("vgg16_8", num_classes=10, act="tanh", order="swap", width=0.0625,
                        in_channels=3, image_size=16).to(device)
    return model, prepare_model(model, channels_last=channels_last, compile=False)


def sgd_steps(step_model, params, batches, channels_last: bool) -> list[float]:
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    losses = []
    step_model.train()
    for x, y in in_memory_format(batches, channels_last):
        loss = F.cross_entropy(step_model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def batches(device: str = "cpu", n: int = 3):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(16, 3, 16, 16, generator=g).to(device),
             torch.randint(0, 10, (16,), generator=g).to(device)) for _ in range(n)]


def test_channels_last_trains_the_same_model_as_nchw():
    plain, step_plain = model_pair(False)
    nhwc, step_nhwc = model_pair(True)
    conv = next(m for m in nhwc.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert step_nhwc is nhwc  # the module itself, so state dicts and hooks are the model's
    a = sgd_steps(step_plain, plain.parameters(), batches(), False)
    b = sgd_steps(step_nhwc, nhwc.parameters(), batches(), True)
    assert b == pytest.approx(a, rel=1e-4)
    for (k, p), q in zip(plain.state_dict().items(), nhwc.state_dict().values(), strict=True):
        torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-5, msg=k)


def test_memory_format_wrapper_keeps_length_and_labels():
    wrapped = in_memory_format(batches(n=2), True)
    assert len(wrapped) == 2
    for (x, y), (x0, y0) in zip(wrapped, batches(n=2), strict=True):
        assert x.is_contiguous(memory_format=torch.channels_last) and torch.equal(x, x0)
        assert torch.equal(y, y0)


def test_compute_mode_names_what_ran():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compute_mode(cpu, bf16=False, deterministic=False) == "float32"
    assert compute_mode(cpu, bf16=True, deterministic=False) == "bf16 autocast"
    assert compute_mode(cuda, bf16=False, deterministic=False) == "tf32"
    assert compute_mode(cuda, bf16=False, deterministic=True) == "float32"
    assert compute_mode(cuda, bf16=True, deterministic=False) == "bf16 autocast"


def test_backend_settings_apply_on_cuda_only_and_come_back():
    before = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
              torch.are_deterministic_algorithms_enabled())
    with backend_settings(torch.device("cuda"), deterministic=False):
        assert torch.backends.cudnn.benchmark and torch.backends.cuda.matmul.allow_tf32
    with backend_settings(torch.device("cuda"), deterministic=True):
        assert not torch.backends.cudnn.benchmark and not torch.backends.cuda.matmul.allow_tf32
        assert torch.are_deterministic_algorithms_enabled()
    with backend_settings(torch.device("cpu"), deterministic=False):
        assert not torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
            torch.are_deterministic_algorithms_enabled()) == before


def test_a_channels_last_run_records_its_precision_and_equals_nchw(tmp_path):
    base = dict(arch="vgg16_11", act="tanh", order="swap", dataset="digits", width=0.125,
                train_subset=200, epochs=1, batch_size=32, lr=0.05, seed=0, device="cpu")
    a = train(TrainConfig(**base, channels_last=False), tmp_path / "a", progress=False)
    b = train(TrainConfig(**base, channels_last=True), tmp_path / "b", progress=False)
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["channels_last"] is True and config["compute"] == "float32"
    assert config["precision"] in ("float32", "bf16")  # auto: bf16 where the CPU has it
    # same run up to float rounding, which SGD amplifies over an epoch (steps: test above)
    assert b.final_test_acc == pytest.approx(a.final_test_acc, abs=3.0)
    assert b.stats["avg_saturation"] == pytest.approx(a.stats["avg_saturation"], rel=0.05)


# ---------------------------------------------------------------- CUDA (skipped without one)

@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_training_steps_follow_the_cpu(channels_last):
    cpu, step_cpu = model_pair(channels_last)
    gpu, step_gpu = model_pair(channels_last, "cuda")
    with backend_settings(torch.device("cuda"), deterministic=True):
        a = sgd_steps(step_cpu, cpu.parameters(), batches(), channels_last)
        b = sgd_steps(step_gpu, gpu.parameters(), batches("cuda"), channels_last)
    assert b == pytest.approx(a, rel=1e-3)


@pytest.mark.cuda
@needs_cuda
def test_cuda_amp_run_records_bf16(tmp_path):
    config = TrainConfig(arch="vgg16_11", dataset="digits", width=0.125, train_subset=200,
                         epochs=1, batch_size=32, lr=0.05, device="cuda", precision="bf16",
                         channels_last=True)
    final = train(config, tmp_path, progress=False)
    recorded = json.loads((tmp_path / "config.json").read_text())
    assert final.status == "completed" and recorded["precision"] == "bf16"
    assert recorded["compute"] == "bf16 autocast"
    assert final.final_test_acc > 20


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("fused", [False, True])
def test_cuda_measure_equals_cpu_measure(fused):
    model, _ = model_pair(False)
    x = torch.randn(64, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with backend_settings(torch.device("cuda"), deterministic=True):
        on_cpu = measure(model, x, batch_size=32).to_dict()
        on_gpu = measure(model, x, batch_size=32, device="cuda", fused=fused).to_dict()
    for key in ("avg_saturation", "avg_skewness", "avg_sparsity"):
        assert on_gpu[key] == pytest.approx(on_cpu[key], rel=1e-5, abs=1e-7)
    assert next(model.parameters()).device.type == "cpu"  # measure put it back


@pytest.mark.cuda
@needs_cuda
def test_cuda_loader_keeps_the_data_on_the_device():
    data = load_dataset("digits")
    x, y = next(iter(data.loader("train", 32, train=True, device=torch.device("cuda"))))
    assert x.is_cuda and y.is_cuda
