"""Optimizer x initialisation x parameterisation sweeps for two-layer ReLU networks in PyTorch.

P networks, each with its own training, validation and test set, are trained at once as batched
tensors (a leading network axis). The objective is the sum over networks of each network's
minibatch mean squared error, so every network gets exactly its own gradient.

Commands: ``fit`` (one configuration and step size), ``sweep`` (coarse then fine step-size search
over a grid, resumable: one JSON file per configuration and step) and ``benchmark``. The machinery
lives in kinks.sweeps.grid (tasks, result files, grids, step search), kinks.sweeps.nets (networks, biases,
training) and kinks.sweeps.data; ``eval_nn_setups.py`` reads what these commands write.
"""
import time

import torch

from kinks.checks import UsageError, as_list, check_choice, check_int, check_jobs, renamed_value, require
from kinks.cli import options_documented_as, run_cli
from kinks.files import save_json
from kinks.locks import output_lock
from kinks.nets import set_threads, torch_device, torch_dtype
from kinks.parallel import backend_client
from kinks.paths import output_file, output_folder, results_root
from kinks.sweeps import grid as sweeps
from kinks.sweeps.grid import SWEEP_DEFAULTS
from kinks.sweeps.nets import OLD_OPTIMIZERS, OPTIMIZERS


def sweep(grid="quick", out=None, datasets=None, params=None, optimizers=None, biases=None,
          bias_gain=SWEEP_DEFAULTS["bias_gain"], runs=None, width=None, epoch_budget=None, valid_budget=None,
          batch_size=SWEEP_DEFAULTS["batch_size"], train_per_dim=SWEEP_DEFAULTS["train_per_dim"],
          n_valid=SWEEP_DEFAULTS["n_valid"], n_test=SWEEP_DEFAULTS["n_test"], seed=SWEEP_DEFAULTS["seed"],
          device="auto", dtype=SWEEP_DEFAULTS["dtype"], jobs=None, backend="loky", scheduler=None, results=None):
    """Step-size search for every configuration of a grid; resumable, one JSON file per
    configuration and step.

    Coarse steps base * 2^(e/8) for the grid's exponents e; then, per configuration, the grid's
    fine offsets around the best step (smallest mean best-validation RMSE, never a diverged step),
    and one coarse spacing further while the best step sits at the edge of the tried steps, up to
    the grid's limit beyond the coarse range (quick 2, paper 4 coarse spacings). Existing result
    files with the same settings are kept (corrupt ones or ones with other settings are
    recomputed), so an interrupted sweep resumes; a folder holding a sweep with other shared
    settings is refused. Prints how many tasks were trained and kept.

    Args:
        grid: quick (default) or paper: the configurations, steps and sizes searched (their table:
            docs/nn_setups.md).
        out: folder written to (default <results>/nn_setups/<grid>, followed by the shared settings that
            differ from the grid's, e.g. quick-width16-seed1; fewer --datasets, --params, --optimizers or
            --biases keep the grid's folder, whose results they share).
        datasets: comma list of ex, radial_<d>, rbf_<d> (default the grid's: quick ex,radial_1,radial_4,radial_16;
            paper ex,radial_1,...,radial_64).
        params: comma list of parameterisations he, ntk (default both).
        optimizers: comma list of sgd, momentum, adam (default all three; sgd-momentum, the old name of
            momentum, is accepted with a warning).
        biases: comma list of hidden-bias modes (see `fit`; default quick zero,unif-neg,kink-neg-unif; paper
            zero,pytorch,unif,unif-pos,unif-neg,kink-neg-unif,kink-neg-point).
        bias_gain: number multiplying the bias, |gain| <= 1000 (default 1; must be 1 for the data-dependent modes).
        runs: networks P per configuration and step, integer >= 1 (default quick 8, paper 100).
        width: hidden units n, integer >= 1 (default quick 64, paper 512).
        epoch_budget: epochs * d, integer >= 1 (default quick 512, paper 8192).
        valid_budget: epochs * d between validation checks, integer >= 1 (default quick 32, paper 64).
        batch_size: minibatch size B, integer >= 1 dividing 256 * d (default 256).
        train_per_dim: training points per input dimension, integer >= 1 (default 256).
        n_valid: validation points, integer >= 1 (default 1024).
        n_test: test points, integer >= 1 (default 1024).
        seed: integer >= 0 (default 0).
        device: auto (default), cpu, cuda or cuda:K.
        dtype: float32 (default) or float64.
        jobs: worker processes, -1 = all cores (default: all cores on CPU with 1 torch thread each, 1 on CUDA).
        backend: loky (default) or dask.
        scheduler: tcp://HOST:PORT of a Dask scheduler (with --backend dask; default a local cluster); its
            workers must see --out at the same absolute path.
        results: the results root, below which the default folder is made (default $KINKS_RESULTS or
            ./results).
    """
    settings = sweeps.grid_settings(grid, datasets=datasets, params=params, optimizers=optimizers, biases=biases,
                                    runs=runs, width=width, epoch_budget=epoch_budget, valid_budget=valid_budget)
    common = dict(bias_gain=bias_gain, batch_size=batch_size, train_per_dim=train_per_dim, n_valid=n_valid,
                  n_test=n_test, seed=seed, device=device, dtype=dtype)
    configs = sweeps.configuration_tasks(settings, **common)
    name = sweeps.sweep_folder_name(grid, next(iter(configs.values())))
    folder, option = output_folder(out, results_root(results) / "nn_setups" / name)
    folder = folder.absolute()
    on_cpu = torch_device(device).type == "cpu"
    jobs = (-1 if on_cpu else 1) if jobs is None else check_jobs(jobs)
    start = time.perf_counter()
    with backend_client(backend, scheduler, jobs) as client, output_lock(folder, option):
        sweeps.prepare_sweep_folder(folder, sweeps.folder_settings(settings, common))
        print(f"{folder}: {len(configs)} configurations of grid {grid}", flush=True)
        done, skipped = sweeps.search_steps(configs, folder, settings, jobs, backend, client,
                                            threads=1 if jobs != 1 and on_cpu else None)
    seconds = round(time.perf_counter() - start, 1)
    print(f"done in {seconds} s: {folder}: {done} tasks trained, {skipped} kept from before (same settings)")
    return dict(done=done, skipped=skipped, seconds=seconds, folder=str(folder))


def refuse_other_fit(path, task):
    """Refuse (UsageError) a result file at ``path`` that is corrupt or holds a fit of other settings."""
    try:
        there = sweeps.read_result(path)["task"]
    except sweeps.ResultError as error:
        raise UsageError(f"--out {error}; remove it or choose another --out") from None
    diff = sweeps.settings_differences(there, task.settings())
    require(not diff, f"--out {path} holds a fit with other settings ({'; '.join(diff)}); choose another --out")


def fit_locked(task, path):
    """``fit``'s work, under the lock of its result file: train, print and save."""
    if path.exists():
        refuse_other_fit(path, task)
    dataset, runs, width, batch_size = task.dataset, task.runs, task.width, task.batch_size
    print(f"{dataset} {task.label()}: lr {task.lr:.4g}, {runs} networks, width {width}, {task.n_epochs} epochs "
          f"of {task.n_train // batch_size} steps, validation every {task.valid_every}")
    result = sweeps.execute(task.replace(path=path), progress=True)
    save_json(path, result)
    for name in sweeps.STATISTICS:
        mean, std = result["mean"][name], result["std"][name]
        print(f"  {name:11s} RMSE  {mean if mean is None else f'{mean:.4f}'} +- {std if std is None else f'{std:.4f}'}")
    print(f"  diverged {result['diverged']}/{result['runs']}, Bayes RMSE {result['bayes_rmse']:.4f}, "
          f"{result['wall_time_s']:.1f} s; saved {path}")


@options_documented_as(sweep, "train_per_dim", "n_valid", "n_test", "seed", "device", "dtype")
def fit(dataset="ex", param="he", optimizer="adam", bias="zero", bias_gain=1.0, lr=None, step_exponent=0,
        runs=100, n_chunks=1, width=512, epoch_budget=8192, valid_budget=64, batch_size=256,
        train_per_dim=256, n_valid=1024, n_test=1024, seed=0, device="auto", dtype="float32", out=None,
        results=None):
    """Train P networks of one configuration at one step size, show progress, print the RMSEs and
    save the result JSON. An existing file there with other settings is refused, never overwritten.

    Args:
        dataset: ex (default), radial_<d> or rbf_<d> with an integer d >= 1.
        param: parameterisation, he (default) or ntk.
        optimizer: sgd, momentum (heavy ball 0.9; formerly sgd-momentum, still accepted) or adam (default).
        bias: hidden-bias mode (default zero): zero, normal, uniform, pos-unif, neg-unif, unif, unif-pos,
            unif-neg, kink-unif, kink-neg-unif, pytorch, or the data-dependent kink-point-<k> (k >= 1),
            kink-range, kink-neg-point, mean (drawn from the whole training set).
        bias_gain: number multiplying the bias, |gain| <= 1000 (default 1; must be 1 for the data-dependent modes).
        lr: step size in (0, 1e12] (default: base step * 2^(step_exponent/8); base adam 1e-2 He / 8e-2 NTK, sgd and
            momentum 8e-3 He / 8e-1 NTK).
        step_exponent: integer from -400 to 400 (default 0).
        runs: networks P, integer >= 1 (default 100).
        n_chunks: chunks trained one after the other, integer >= 1 dividing --runs (default 1).
        width: hidden units n, integer >= 1 (default 512).
        epoch_budget: epochs * d, integer >= 1 (default 8192).
        valid_budget: epochs * d between validation checks, integer >= 1 (default 64).
        batch_size: minibatch size B, integer >= 1 dividing train_per_dim * d (default 256).
        out: file written (default: <results>/nn_setups/fit/, named by the data set, configuration, lr,
            runs, width, epochs, validation, batch, training points, seed and dtype, e.g.
            ex_he_adam_zero_lr0.01_runs100_width512_epochs8192_valid64_batch256_train256_seed0_float32.json).
        results: the results root, below which the default file is made (default $KINKS_RESULTS or
            ./results).
    """
    task = sweeps.Task(dataset, param, renamed_value("optimizer", optimizer, OLD_OPTIMIZERS), bias, bias_gain,
                       step_exponent, lr, runs, n_chunks, width, epoch_budget, valid_budget, batch_size,
                       train_per_dim, n_valid, n_test, seed, device, dtype)
    path, option = output_file(out, sweeps.fit_path(task, results))
    torch_device(device)
    with output_lock(path.parent, option, f".{path.name}.lock"):
        fit_locked(task, path)


def benchmark_row(d, runs, width, steps, optimizer, device, dtype):
    """One row of ``benchmark`` (input dimension d), printed as it is measured."""
    batched = sweeps.seconds_per_step(runs, d, width, steps, optimizer, device, dtype)
    single = sweeps.seconds_per_step(1, d, width, steps, optimizer, device, dtype)
    row = dict(d=d, ms_per_step_batched=1e3 * batched, ms_per_step_single=1e3 * single,
               network_steps_per_s=runs / batched, speedup_vs_loop=runs * single / batched,
               full_run_minutes=8192 * batched / 60)
    print(f"d={d:3d}: {row['ms_per_step_batched']:8.2f} ms/step for {runs} networks, "
          f"{row['ms_per_step_single']:6.2f} ms/step for one; {row['network_steps_per_s']:9.0f} "
          f"network-steps/s; x{row['speedup_vs_loop']:.1f} vs a loop; 8192 steps: "
          f"{row['full_run_minutes']:.1f} min", flush=True)
    return row


def benchmark(runs=100, width=512, dims="1,16,64", steps=64, optimizer="adam", device="auto",
              dtype="float32", threads=None, out=None, results=None):
    """Time training steps of ``runs`` networks batched against one network (a Python loop over
    networks costs P times that); prints ms per step, network-steps per second and the speed-up,
    and saves them.

    Args:
        runs: networks trained at once, integer >= 1 (default 100).
        width: hidden units n, integer >= 1 (default 512).
        dims: comma list of input dimensions, integers >= 1 (default 1,16,64).
        steps: minibatch steps timed, integer >= 1 (default 64).
        optimizer: sgd, momentum or adam (default).
        device: auto (default), cpu, cuda or cuda:K.
        dtype: float32 (default) or float64.
        threads: torch CPU threads, integer >= 1 (default: torch's choice).
        out: file written (default <results>/nn_setups/benchmark_<cpu|cuda>.json).
        results: the results root, below which the default file is made (default $KINKS_RESULTS or
            ./results).
    """
    runs, width, steps = (check_int(k, v) for k, v in (("runs", runs), ("width", width), ("steps", steps)))
    set_threads(threads)
    dims = as_list("dims", dims, check_int)
    optimizer = check_choice("optimizer", renamed_value("optimizer", optimizer, OLD_OPTIMIZERS), OPTIMIZERS)
    device, _ = torch_device(device), torch_dtype(dtype)
    path, option = output_file(out, results_root(results) / "nn_setups" / f"benchmark_{device.type}.json")
    with output_lock(path.parent, option, f".{path.name}.lock"):  # before the measurements: a second one is refused
        rows = [benchmark_row(d, runs, width, steps, optimizer, device, dtype) for d in dims]
        save_json(path, dict(device=str(device), threads=torch.get_num_threads(), runs=runs,
                             width=width, steps=steps, optimizer=optimizer, dtype=dtype, rows=rows))
    print(f"saved {path}")

COMMANDS = {"fit": fit, "sweep": sweep, "benchmark": benchmark}
ALIASES = {"optimiser": "optimizer", "optimisers": "optimizers", "n_networks": "runs"}  # old option name: new


def main():
    """The console script ``run_nn_setups`` (pyproject.toml), and ``python run_nn_setups.py``."""
    run_cli(COMMANDS, ALIASES)


if __name__ == "__main__":
    main()
