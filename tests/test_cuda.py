"""CPU and CUDA agreement of the PyTorch scripts (issue 14).

Every comparison computes a reference on the CPU (torch's default thread count) and the same
thing on a comparison device: 'cuda' (marked ``cuda``, skipped with the reason where torch finds
no CUDA device) or 'cpu-1-thread', the CPU limited to one thread (another split of the threaded
kernels), so that each line of the comparison also runs in CI. Checked: the fast ReLU epoch
against autograd on each device; a star run from one seed (same start, trajectories over 1,000
epochs within float tolerance, the same crossing epochs); a sweep fit from one seed; the NTK step
sizes (the Gram step rule); that a missing ``--device cuda:K`` (or CUDA absent) is one line and
exit 2, also for gpu_check.sh; and that the Python programs gpu_check.sh embeds run against the
package (on the CPU, at tiny sizes). Tiny sizes throughout."""
import contextlib
import functools
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, run_script
from kinks.checks import UsageError
from kinks.files import load_json
from kinks.nets import cuda_absence, torch_device, torch_dtype
from kinks.samples import sample_weights
from kinks.star import networks, training
from kinks.star.config import StarConfig
from kinks.star.data import make_data
from kinks.star.state import TrainingState
from kinks.sweeps import grid as sweeps

CPU = torch.device("cpu")
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
COMPARED = ["cpu-1-thread", pytest.param("cuda", marks=pytest.mark.cuda)]
# (rtol, atol) of a comparison between devices after many steps; float32 allows about three times
# the largest difference between a float32 and a float64 CPU run of the star test below
TOLERANCE = {"float64": (1e-9, 1e-11), "float32": (1e-3, 3e-3)}


@contextlib.contextmanager
def comparison_device(name):
    """The device ``name`` ('cuda' or 'cpu-1-thread') for the block; torch's CPU threads restored after."""
    threads = torch.get_num_threads()
    if name == "cpu-1-thread":
        torch.set_num_threads(1)
    try:
        yield torch.device("cuda" if name == "cuda" else "cpu")
    finally:
        torch.set_num_threads(threads)


def assert_same_tensors(reference, other, dtype, exact=False):
    """Tensors (or lists of tensors) equal after moving ``other`` to the CPU: bit for bit with
    ``exact``, else within the dtype's TOLERANCE."""
    reference, other = (list(x) if isinstance(x, (list, tuple)) else [x] for x in (reference, other))
    assert len(reference) == len(other)
    rtol, atol = TOLERANCE[dtype]
    for a, b in zip(reference, other):
        if exact:
            assert torch.equal(a, b.cpu())
        else:
            torch.testing.assert_close(b.cpu(), a, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- star data sets
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("device", DEVICES)
def test_fast_relu_epoch_equals_autograd_on_the_device(device, dtype):
    device = torch.device(device)
    config = StarConfig(dataset="star_7", width=11, runs=6, random_bias=True, dtype=dtype)
    state = TrainingState.initial(config, device)
    data = training.epoch_data(state, device)
    data["h"] = data["h"] * torch.tensor([1, 1, 5, 5, 20, 20], device=device)   # larger steps move kinks sooner
    params, changes = state.params, []
    for _ in range(5):
        fast, fast_loss, fast_changed = networks.relu_epoch([A.clone() for A in params], data)
        slow, slow_loss, slow_changed = networks.autograd_epoch([A.clone() for A in params], data)
        assert fast[0].device.type == device.type and fast_loss.dtype == torch_dtype(dtype)
        assert_same_tensors(slow, fast, dtype)
        assert_same_tensors(slow_loss, fast_loss, dtype)
        assert torch.equal(fast_changed, slow_changed)
        changes.append(fast_changed.cpu())
        params = fast
    assert not changes[0].any() and changes[-1].any() and not changes[-1].all()


STAR_RUN = dict(dataset="cross", width=16, runs=24, seed=2)
STAR_EPOCHS = 1000


@functools.lru_cache(maxsize=None)
def star_start_and_run(dtype, device_name, folder):
    """The initial state and the state after STAR_EPOCHS epochs of the STAR_RUN configuration on a device."""
    config = StarConfig(**STAR_RUN, dtype=dtype)
    with comparison_device(device_name) as device:
        start = TrainingState.initial(config, device)
        _, state = training.train(config, STAR_EPOCHS, device, results=Path(folder, device_name, dtype), progress=False)
    return start, state


@pytest.mark.slow  # 1,000 epochs of a star run on each device
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("other", COMPARED)
def test_star_run_on_the_device_equals_the_cpu_run(other, dtype, tmp_path_factory):
    folder = str(tmp_path_factory.getbasetemp() / "star_runs")
    start, state = star_start_and_run(dtype, "cpu", folder)
    other_start, other_state = star_start_and_run(dtype, other, folder)
    for key in ("params", "p", "threshold", "initial_pattern"):             # drawn on the CPU: the same start
        assert_same_tensors(getattr(start, key), getattr(other_start, key), dtype, exact=True)
    assert_same_tensors(start.step_size, other_start.step_size, dtype)
    assert other_state.epoch == state.epoch == STAR_EPOCHS
    assert_same_tensors(state.params, other_state.params, dtype)
    assert_same_tensors(state.loss, other_state.loss, dtype)
    assert_same_tensors(state.log, other_state.log, dtype)                      # loss deciles, fractions
    for key in ("kink_epoch", "loss_epoch", "nan_epoch"):
        assert_same_tensors(getattr(state, key), getattr(other_state, key), dtype, exact=True)
    crossed = [(getattr(state, key) >= 0).sum().item() for key in ("kink_epoch", "loss_epoch")]
    assert all(0 < k < STAR_RUN["runs"] for k in crossed), crossed      # both kinds of crossing occur
    saved = StarConfig(**STAR_RUN, dtype=dtype).folder(Path(folder, other, dtype))
    reloaded = TrainingState.load(saved, other_state.params[0].device)   # state.pt read back onto the device
    assert torch.equal(reloaded.initial_pattern.cpu(), other_start.initial_pattern.cpu())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("layers,activation", [(1, "relu"), (1, "tanh"), (2, "relu")])
@pytest.mark.parametrize("other", COMPARED)
def test_gram_step_sizes_agree_with_the_cpu(other, layers, activation, dtype):
    X, _ = make_data("star_7")
    p = sample_weights(np.random.default_rng(0), 5, 64, len(X))
    params = networks.init_params(5, 2, 8, layers, True, torch.Generator().manual_seed(1))

    def steps(device):
        on = dict(device=device, dtype=torch_dtype(dtype))
        K = networks.ntk_gram([A.to(**on) for A in params], torch.as_tensor(X, **on), activation)
        return networks.gram_step_sizes(K, torch.as_tensor(p, **on), 1.0)

    reference = steps(CPU)
    with comparison_device(other) as device:
        h = steps(device)
    assert h.device.type == device.type and h.shape == (5,) and (reference > 0).all()
    assert_same_tensors(reference, h, dtype)


# ----------------------------------------------------------------------------- sweeps
SWEEP_FIT = dict(dataset="radial_2", param="ntk", runs=4, width=16, epoch_budget=8, valid_budget=2,
                 batch_size=32, train_per_dim=32, n_valid=64, n_test=64, seed=5, dtype="float64")


@pytest.mark.parametrize("optimizer,bias", [("momentum", "zero"), ("adam", "kink-neg-point")])
@pytest.mark.parametrize("other", COMPARED)
def test_sweep_fit_on_the_device_equals_the_cpu_fit(other, optimizer, bias):
    task = dict(SWEEP_FIT, optimizer=optimizer, bias=bias)
    reference = sweeps.execute(sweeps.Task(**task, device="cpu"))
    with comparison_device(other) as device:
        result = sweeps.execute(sweeps.Task(**task, device=str(device)))
    assert result["diverged"] == reference["diverged"] == 0
    for name in sweeps.STATISTICS:
        np.testing.assert_allclose(result["mean"][name], reference["mean"][name], rtol=1e-9)
    for name in ("best_valid", "best_test"):
        np.testing.assert_allclose(result["per_network"][name], reference["per_network"][name], rtol=1e-9)


# ----------------------------------------------------------------------------- a missing device
def test_missing_cuda_device_names_the_available_ones(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert torch_device("cuda:1") == torch.device("cuda:1")
    assert torch_device("cuda") == torch.device("cuda")
    with pytest.raises(UsageError, match=r"^--device cuda:2: no such CUDA device; this machine has "
                                               r"cuda:0, cuda:1$"):
        torch_device("cuda:2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    with pytest.raises(UsageError, match=r"^--device cuda:0 asked for, but CUDA is not available on this "
                                               r"machine \(torch .* is built for CUDA 13.0, but finds no usable GPU\)"):
        torch_device("cuda:0")
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(UsageError, match=r"\(torch .* is built without CUDA\); use --device cpu or auto$"):
        torch_device("cuda")
    assert torch_device("auto") == CPU


@pytest.mark.parametrize("name", ["cuda:", "cuda:x", "cuda:-1", "gpu", "CUDA"])
def test_malformed_device_is_refused(name):
    with pytest.raises(UsageError, match=r"^--device must be auto, cpu, cuda or cuda:K"):
        torch_device(name)


@pytest.mark.slow
@pytest.mark.parametrize("script,command,out", [("train_star_dataset.py", "train", "--results"),
                                                ("run_nn_setups.py", "fit", "--out")])
def test_missing_device_on_the_command_line_is_one_line_and_exit_2(script, command, out, tmp_path):
    missing = torch.cuda.device_count()     # the first index this machine lacks (0 without CUDA)
    result = run_script(script, command, "--device", f"cuda:{missing}", out, tmp_path / "out", cwd=tmp_path)
    expected = "no such CUDA device" if torch.cuda.is_available() else "CUDA is not available"
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: --device cuda:{missing}") and expected in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: gpu_check.sh runs the whole check there")
def test_gpu_check_without_cuda_is_one_line_and_exit_2(tmp_path):
    # gpu_check.sh's Python is this one (the Quick start's .venv), not whatever python3 is on PATH
    result = subprocess.run(["bash", str(ROOT / "gpu_check.sh"), "--out", str(tmp_path / "gpu_check")],
                            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHON": sys.executable})
    assert result.returncode == 2 and result.stdout == "" and result.stderr.count("\n") == 1, result
    assert result.stderr.startswith("error: gpu_check.sh needs a CUDA build of torch and a GPU; ")
    assert cuda_absence() in result.stderr and not (tmp_path / "gpu_check").exists()


# ----------------------------------------------------------------------------- gpu_check.sh's own Python
def embedded_programs():
    """The Python programs gpu_check.sh runs from here-documents, in order."""
    text = (ROOT / "gpu_check.sh").read_text()
    return re.findall(r"\"\$PYTHON\" - [^\n]*<<'EOF'\n(.*?)\nEOF\n", text, flags=re.S)


@pytest.mark.slow
def test_gpu_check_programs_run_against_the_package(tmp_path):
    """The timing program trains two tiny star_11 cases on the CPU; the summary program reads the
    folder it wrote (no step, test or benchmark files: every figure 'n/a')."""
    timing, summary = embedded_programs()
    assert "W:P:F:T" in timing and "summary.json and summary.txt" in summary
    for name, program in (("timing.py", timing), ("summary.py", summary)):
        (tmp_path / name).write_text(program)
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, tmp_path / "timing.py", out / "runs", "cpu", out / "star_stage.json",
                             "8:4:2:5", "16:4:2:4"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    rows = load_json(out / "star_stage.json")["rows"]
    assert [(row["width"], row["n_networks"], row["epochs"]) for row in rows] == [(8, 4, 5), (16, 4, 4)]
    (out / "steps.tsv").write_text("star_stage\t1.0\t0\n")
    result = subprocess.run([sys.executable, tmp_path / "summary.py", out, "yes"], capture_output=True, text=True,
                            cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    assert load_json(out / "summary.json")["paper_sweep_fits"] > 0 and "paper_star grid projected" in result.stdout
