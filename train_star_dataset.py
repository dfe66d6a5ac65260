"""Thousands of small ReLU networks trained at once by gradient descent on two-dimensional data.

The question (Holzmüller & Steinwart, Section 7): does a network trained by gradient descent from
He initialisation ever move a kink across a data point, and does its loss ever fall below the best
piecewise-linear-regression fit, which is all it can reach while its kinks stay put?

Commands: ``train`` (one configuration into its folder, resumable), ``experiments`` (a preset's
configurations stage by stage), ``animate`` (one network's kink lines as it trains, a GIF) and
``benchmark``. The machinery lives in kinks.star (configuration, networks, step rules, the torch
epochs and the compiled engine, training state and files, data sets and thresholds);
``eval_star_dataset.py report`` reads what these commands write.
"""

import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from kinks.checks import check_float, check_int, check_jobs, renamed_value, require
from kinks.cli import run_cli
from kinks.files import save_json
from kinks.locks import output_lock
from kinks.nets import set_threads, torch_device, torch_dtype
from kinks.parallel import backend_client
from kinks.paths import output_folder, results_root
from kinks.star import training
from kinks.star.config import OLD_PRESETS, OLD_STEP_RULES, StarConfig, preset_configs, preset_stages
from kinks.star.data import read_data_file
from kinks.star.reduced import CHUNK_NETWORKS, choose_engine

PROJECTION_INTERRUPTED = "interrupted; a projection keeps nothing: rerun the command to start it again"


def own_data(data, probs, dataset=None):
    """The DataFile of --data FILE and --probs, None without --data; --probs needs --data, and
    --dataset and --data exclude each other (each refused in one line)."""
    require(data is None or dataset is None, "--dataset and --data exclude each other: give one of them")
    if data is None:
        require(probs is None, "--probs needs --data (the built-in data sets have uniform probabilities)")
        return None
    return read_data_file(data, probs)


def checked_config(**settings):
    """The StarConfig of the command-line settings; the old step rule name ntk is accepted with a warning."""
    if settings.get("step") is not None:
        settings["step"] = renamed_value("step", settings["step"], OLD_STEP_RULES)
    return StarConfig(**settings)


def train(dataset=None, width=256, layers=1, runs=1000, epochs=10_000, activation="relu",
          random_bias=False, step="gram", lr_factor=None, seed=0, dtype="float32", samples="n^2", data=None,
          probs=None, device="auto", results=None, log_every=1000, checkpoint_every=None, engine="auto", jobs=-1,
          backend="loky", scheduler=None):
    """Train one configuration for --epochs epochs in all (resuming from its checkpoint under
    <results>/star/<dataset>/<config>/) and print the crossed fractions.

    Args:
        dataset: standard, cross, double_cross, random_with_line, star_<k> (k >= 1) or multi_axis_<d>
            (d >= 1); default star_11 (not with --data).
        width: hidden width n, an integer >= 1; default 256.
        layers: number of hidden layers L, an integer >= 1; default 1.
        runs: number of networks P trained at once, an integer >= 1; default 1000.
        epochs: total epoch count (a larger count than saved resumes the training), an integer >= 1; default 10000.
        activation: relu or tanh; default relu.
        random_bias: true (biases ~ N(0, 2/fan_in)) or false (biases 0); default false.
        step: the step rule: gram (h = lr_factor / lambda_max(P^1/2 K P^1/2), K the neural-tangent Gram
            matrix: the paper's rule; formerly ntk, still accepted) or published (h = lr_factor / |theta|^2,
            the step the published runs took); default gram.
        lr_factor: a number in (0, 100]; default 1 for --step gram, 2 for --step published.
        seed: an integer >= 0; default 0.
        dtype: float32 or float64; default float32.
        samples: the data weights p: n^k (k > 0, N = round(n^k)), an integer N >= 1 (p =
            Multinomial(N, pi) / N) or population (p = pi); default n^2 (the paper's).
        data: your own data instead of --dataset: a CSV file of rows x1,...,xd,y (d >= 1, at least
            2 rows; a first line without numbers is a header), recorded in the run with its content;
            default none.
        probs: with --data, the probabilities pi of its rows "p,p,..." (positive, summing to 1);
            default uniform.
        device: auto (CUDA when available), cpu, cuda or cuda:K; default auto.
        results: the results root; default $KINKS_RESULTS or ./results.
        log_every: epochs between log rows, an integer >= 1; default 1000.
        checkpoint_every: epochs between checkpoints, an integer >= 1; default 10000 for the torch epochs
            and 50000 for the compiled engine (each of its checkpoints gathers every chunk from the workers).
        engine: auto (compiled wherever it applies: one hidden layer of relu units in float64 on the CPU;
            torch for deep networks, tanh, float32 or a GPU; a started run continues with the engine
            that started it), compiled or torch; default auto.
        jobs: worker processes of the compiled engine (its networks split into chunks whose results do
            not depend on the split), a positive integer or -1 (all cores); default -1.
        backend: loky (worker processes here) or dask (a dask.distributed cluster), for the compiled
            engine; default loky.
        scheduler: with --backend dask, the address tcp://HOST:PORT of the scheduler; default a
            LocalCluster of --jobs processes here.
    """
    config = checked_config(dataset=dataset, width=width, layers=layers, runs=runs, activation=activation,
                            random_bias=random_bias, step=step, lr_factor=lr_factor, seed=seed, dtype=dtype,
                            samples=samples, data=own_data(data, probs, dataset))
    epochs = check_int("epochs", epochs)
    log_every = check_int("log_every", log_every)
    checkpoint_every = None if checkpoint_every is None else check_int("checkpoint_every", checkpoint_every)
    device, jobs = torch_device(device), check_jobs(jobs)
    with backend_client(backend, scheduler, jobs) as client:
        folder, state = training.train(config, epochs, device, results, log_every, checkpoint_every, engine=engine,
                                       jobs=jobs, backend=backend, scheduler=client)
    print(f"{folder}: {state.summary()} ({state.engine} engine)")


def experiments(preset="quick", step=None, lr_factor=None, activation="relu", random_bias=False, dtype="float32",
                samples="n^2", data=None, probs=None, device="auto", results=None, max_epochs=None, engine="auto",
                jobs=-1, backend="loky", scheduler=None):
    """Run a preset's grid stage by stage: every configuration to the first epoch count, then all
    to the next, ... (resumable: finished stages are skipped).

    Args:
        preset: quick (star_11 and cross, n = 16, 64, 256, 1024, P = 200, 5k then 10k epochs, step gram),
            paper_star (star_11, n = 128 ... 4096 with P = 1000 and n = 8192 as two seeds of P = 500, stages of 100k
            to 1M epochs, step published, which reproduces the published figure), paper_star_gram (the same with step
            gram; formerly paper_star_ntk, still accepted), paper_deep (standard data, L = 3, n = 16 ... 256,
            P = 1000, stages of 10k to 100k epochs, step published) or paper_deep_gram (the same with step gram;
            formerly paper_deep_ntk); default quick.
        step: gram or published; default the preset's rule (named above).
        lr_factor: a number in (0, 100]; default 1 for step gram, 2 for step published.
        activation: relu or tanh; default relu.
        random_bias: true or false; default false.
        dtype: float32 or float64; default float32.
        samples: the data weights p: n^k, an integer N or population, as in train; default n^2.
        data: your own data, a CSV file of rows x1,...,xd,y as in train: the preset's grid on it instead of
            its data sets (each configuration once); default none.
        probs: with --data, the probabilities of its rows "p,p,..."; default uniform.
        device: auto, cpu, cuda or cuda:K; default auto.
        results: the results root; default $KINKS_RESULTS or ./results.
        max_epochs: caps the preset's epoch counts, an integer >= 1; default none (the preset's stages).
        engine: auto (compiled for --dtype float64 on the CPU, as in train), compiled or torch; default auto.
        jobs: the compiled engine's worker processes, a positive integer or -1 (all cores); default -1.
        backend: loky or dask (a dask.distributed cluster), as in train; default loky.
        scheduler: with --backend dask, a scheduler's address tcp://HOST:PORT; default a LocalCluster here.
    """
    preset = renamed_value("preset", preset, OLD_PRESETS)
    step = None if step is None else renamed_value("step", step, OLD_STEP_RULES)
    configs = preset_configs(preset, step=step, data=own_data(data, probs), activation=activation,
                             random_bias=random_bias, lr_factor=lr_factor, dtype=dtype, samples=samples)
    stages = preset_stages(preset, max_epochs)
    device, jobs = torch_device(device), check_jobs(jobs)
    for config in configs:
        choose_engine(engine, config, device)
    with backend_client(backend, scheduler, jobs) as client:
        for stage in stages:
            for config in configs:
                _, state = training.train(config, stage, device, results, engine=engine, jobs=jobs, backend=backend,
                                          scheduler=client)
                print(f"{config.dataset} n={config.width} seed={config.seed} {config.step} step: {state.summary()}")


def hours(seconds):
    """A duration in words: '2.45 h', '12.3 min' below an hour, '41 s' below a minute."""
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def cpu_name():
    """The CPU's model name (Linux: /proc/cpuinfo), else what ``platform`` knows ('x86_64')."""
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or platform.machine()


def benchmark_preset(preset, sample, dtype, jobs, results, max_epochs):
    """``benchmark --preset``: the whole preset's wall time projected from a sample of its networks
    (``training.projected_preset``), saved to <results>/star/projection_<preset>.json; the sample
    runs are trained in a scratch folder there, removed at the end."""
    configs = preset_configs(preset, dtype=dtype)
    epochs = preset_stages(preset, max_epochs)[-1]
    path = results_root(results) / "star" / f"projection_{preset}.json"
    with output_lock(path.parent, "--results"), tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        workers = f"{jobs} worker{'s' if jobs > 1 else ''}"
        print(f"projecting {preset} ({len(configs)} configurations to {epochs:,} epochs) from {sample} networks "
              f"of each on {workers}")
        rows = []
        try:
            for row in training.projected_preset(configs, epochs, sample, jobs, scratch):
                print(f"{row['dataset']} n={row['width']} seed={row['seed']}: {row['sample']} networks in "
                      f"{row['sample_s']:.1f} s, so {row['runs']} in {hours(row['projected_s'])}", flush=True)
                rows.append(row)
        except KeyboardInterrupt as interrupt:   # a projection times whole runs: a rerun starts it again
            raise type(interrupt)(PROJECTION_INTERRUPTED) from None
        total = sum(row["projected_s"] for row in rows)
        save_json(path, dict(preset=preset, dtype=dtype, jobs=jobs, sample=sample, epochs=epochs,
                             date=time.strftime("%Y-%m-%d"), machine=cpu_name(),
                             cores=os.cpu_count(), projected_s=total, rows=rows))
    print(f"{preset} projected whole: {hours(total)} on {workers}; saved {path} (the sample runs removed)")


def benchmark(device="auto", dtype="float32", seconds=5.0, threads=None, results=None, preset=None, sample=None,
              jobs=-1, max_epochs=None):
    """Epochs per second on star_11 at (n = 256, P = 1000) and (n = 4096, P = 100): the fast ReLU
    epoch against a comparison baseline, the straightforward autograd epoch on the same tensors
    (forward, autograd backward, step, pattern compared directly); both track the crossings. Beside
    them, network-epochs per second of the compiled engine (float64, in this process: one thread)
    against the fast epoch's. Saved to <results>/star/benchmark_<device>.json. With --preset,
    instead the wall time of the whole preset on this machine, projected from --sample networks of
    each configuration trained whole (the cost per epoch grows along a run, so no shorter timing
    projects it); saved to <results>/star/projection_<preset>.json.

    Args:
        device: auto, cpu, cuda or cuda:K; default auto.
        dtype: float32 or float64; default float32.
        seconds: time per measurement, a number in (0, 3600]; default 5.
        threads: torch CPU threads, an integer >= 1; default torch's choice (all cores).
        results: the results root; default $KINKS_RESULTS or ./results.
        preset: a preset of experiments to project (quick, paper_star, paper_star_gram, paper_deep, paper_deep_gram;
            use --dtype float64 for the compiled engine); default none (the epoch rates above).
        sample: with --preset, networks per configuration trained to project it, an integer >= 1 (a multiple of
            25 x jobs keeps every worker busy); default 25 x jobs, one chunk per worker.
        jobs: with --preset, worker processes, a positive integer or -1 (all cores); default -1.
        max_epochs: with --preset, caps its epoch counts, an integer >= 1; default none.
    """
    device, _ = torch_device(device), torch_dtype(dtype)
    seconds = check_float("seconds", seconds, 0, strict=True, maximum=3600)
    jobs = os.cpu_count() if check_jobs(jobs) == -1 else jobs
    sample = CHUNK_NETWORKS * jobs if sample is None else check_int("sample", sample)
    max_epochs = None if max_epochs is None else check_int("max_epochs", max_epochs)
    if preset is not None:
        preset_stages(preset)   # a bad --preset is refused before anything is written
        return benchmark_preset(preset, sample, dtype, jobs, results, max_epochs)
    set_threads(threads)
    path, rows = results_root(results) / "star" / f"benchmark_{device.type}.json", []
    with output_lock(path.parent, "--results"):  # before the measurements: a second one is refused at once
        for width, runs in training.BENCHMARK_CASES:
            rows.append(training.benchmark_case(width, runs, dtype, seconds, device))
            fast, slow = rows[-1]["epochs_per_s"], rows[-1]["autograd_epochs_per_s"]
            print(f"star_11 n={width} P={runs}: {fast:8.1f} epochs/s (autograd baseline {slow:7.1f}; "
                  f"x{fast / slow:.2f}); network-epochs/s: fast epoch {fast * runs:9.0f}, compiled engine "
                  f"{rows[-1]['compiled_network_epochs_per_s']:9.0f} (x{rows[-1]['compiled_speedup']:.1f})")
        save_json(path, dict(device=str(device), threads=torch.get_num_threads(), dtype=dtype, rows=rows))
    print(f"saved {path}")


def animate(dataset="cross", width=16, epochs=20_000, frames=60, seed=0, samples="n^2", mp4=True, out=None,
            results=None):
    """Watch one network train on 2-D data: its kink lines over the data points, its function as a
    background map, on log-spaced epochs; written as animate_<dataset>.gif (and .mp4 where ffmpeg
    is installed).

    gd from He initialisation with the Gram step (the star study's ``train`` with --runs 1, in
    float64 on the CPU); every hidden unit's kink is the line {x : a_i . x + b_i = 0}.

    Args:
        dataset: standard, cross, double_cross, random_with_line, star_<k> or multi_axis_2 (2-D
            sets only); default cross.
        width: hidden width n, an integer >= 1; default 16.
        epochs: epochs of gd, >= 1; default 20000.
        frames: frames of the animation (log-spaced epochs), 2 ... 300; default 60.
        seed: seed of the initialisation and the data weights, an integer >= 0; default 0.
        samples: the data weights p: n^k, an integer N (Multinomial(N, uniform) / N) or population
            (uniform p); default n^2.
        mp4: also write an MP4 where ffmpeg is installed; default true.
        out: the folder to write; default <results>/animations.
        results: the results root, below which the default folder is made; default $KINKS_RESULTS or
            ./results.
    """
    from kinks.samples import SampleRule
    from kinks.star.animation import animate_2d, train_2d
    from kinks.star.data import make_data

    X, y = make_data(dataset)
    require(X.shape[1] == 2, f"--dataset {dataset} has d = {X.shape[1]}; animate draws 2-D data sets only")
    width, epochs = check_int("width", width), check_int("epochs", epochs)
    frames, seed = check_int("frames", frames, 2), check_int("seed", seed, 0)
    require(frames <= 300, f"--frames must be at most 300 (a few MB); got {frames}")
    rule = SampleRule(samples)
    out, option = output_folder(out, results_root(results) / "animations")
    with output_lock(out, option):  # before the training: a second writer is refused before it computes
        at, snaps, loss, p = train_2d(X, y, width, epochs, frames, seed, rule)
        title = f"{dataset}, n = {width}, gd with the Gram step, {rule.label()}"
        written = animate_2d(X, y, at, snaps, loss, p, title, out / f"animate_{dataset}", mp4)
    for path in written:
        print(path)


COMMANDS = {"train": train, "experiments": experiments, "animate": animate, "benchmark": benchmark}
ALIASES = {"n_networks": "runs"}  # old option name: new, accepted with a warning


def main():
    """The console script ``train_star_dataset`` (pyproject.toml), and ``python train_star_dataset.py``."""
    run_cli(COMMANDS, ALIASES)


if __name__ == "__main__":
    main()
