"""The star study's training by torch (Holzmüller & Steinwart, Section 7): P networks of L hidden
layers of width n trained at once by full-batch gradient descent (``gd``) on the data of
``kinks.star.data`` (a data set or one's own file: ``StarConfig.training_data``), each with its own
data weights p = Multinomial(N, pi)/N (N = n^2 unless --samples) and step size h
(``kinks.star.networks``), epoch by epoch with the state's records (``kinks.star.state``);
``train`` runs one configuration into its folder (locked, resumable from its checkpoint) by the
torch loop or the compiled engine (``kinks.star.reduced``); and the benchmark's timing of the fast
ReLU epoch against autograd and against the compiled engine."""
import time
from pathlib import Path

import torch
from tqdm import tqdm

from kinks.checks import UsageError, require
from kinks.files import file_problem, load_json, save_json
from kinks.locks import output_lock
from kinks.nets import synchronize, torch_dtype
from kinks.star.config import StarConfig
from kinks.star.networks import autograd_epoch, bit_weights, pattern_codes, relu_epoch
from kinks.star.reduced import CHECKPOINT_EVERY, CHUNK_NETWORKS, advance, choose_engine, train_compiled
from kinks.star.state import TrainingState


TORCH_CHECKPOINT_EVERY = 10_000   # epochs between the torch loop's checkpoints


# ============================================================================= epochs
def epoch_data(state, device):
    """The tensors a torch epoch of ``state`` needs on ``device``: X (m, d), X1 = [X, 1] (m, d+1), y (m,),
    p (P, m), h (P,), the initial pattern; for the fast ReLU epoch also X expanded to (P, m, d), the bit weights B
    expanded to (P, m, k), the initial codes (P, k, n) and the (P, m, n) buffer."""
    X, y, _ = state.config.training_data()
    dtype = torch_dtype(state.config.dtype)
    X = torch.as_tensor(X, device=device, dtype=dtype)
    data = dict(X=X, X1=torch.cat([X, torch.ones_like(X[:, :1])], dim=1),
                y=torch.as_tensor(y, device=device, dtype=dtype), p=state.p, h=state.step_size,
                activation=state.config.activation, initial_pattern=state.initial_pattern)
    if state.config.uses_relu_epoch():
        P, m, n = state.initial_pattern.shape
        bits = bit_weights(m, dtype, device)
        data.update(X_batch=X.expand(P, m, X.shape[1]), bits=bits.expand(P, *bits.shape),
                    initial_code=pattern_codes(state.initial_pattern, bits),
                    buffer=torch.empty((P, m, n), dtype=dtype, device=device))
    return data


def train_epochs(state, data, epochs, log_every=1000, checkpoint=None, checkpoint_every=10_000, progress=False):
    """Continue gradient descent of ``state`` from ``state.epoch`` to ``epochs`` by torch epochs on
    ``data`` (``epoch_data``): epoch t evaluates theta_t (loss, pattern, first epochs, log when
    t % log_every == 0) and steps to theta_{t+1}. ``checkpoint(state)`` is called every
    ``checkpoint_every`` epochs and at the end. Returns the state."""
    epoch_step = relu_epoch if state.config.uses_relu_epoch() else autograd_epoch
    bar = tqdm(total=epochs, initial=state.epoch, desc="epochs", disable=not progress, mininterval=1.0)
    for t in range(state.epoch, epochs):
        state.params, loss, changed = epoch_step(state.params, data)
        state.record(t, loss, changed)
        state.loss, state.epoch = loss, t + 1
        if t % log_every == 0:
            state.log = torch.cat([state.log, state.log_row(t, loss)[None]])
            bar.set_postfix(state.bar_values(loss))
        bar.update()
        if checkpoint is not None and (state.epoch % checkpoint_every == 0 or state.epoch == epochs):
            checkpoint(state)
    if state.loss is not None:
        bar.set_postfix(state.bar_values(state.loss))  # the bar ends on the values the summary prints
    bar.close()
    return state


# ============================================================================= one configuration
def open_folder(config, folder, device):
    """The saved state of the configuration in ``folder`` (after checking that it holds ``config``), or
    a fresh one with config.json written. A different configuration there is refused."""
    folder = Path(folder)
    if (folder / "config.json").exists():
        try:
            saved = StarConfig.from_dict(load_json(folder / "config.json"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, UsageError) as error:
            raise UsageError(f"{folder}/config.json is not a star configuration ({file_problem(error)}); remove "
                             f"the folder or choose another --results") from None
        require(saved == config, f"{folder} holds a different configuration ({config.differences(saved)}); "
                                 "refusing to mix them (choose another --results folder or remove it)")
        if (folder / "state.pt").exists():
            state = TrainingState.load(folder, device)
            require(state.config == config, f"{folder}/state.pt belongs to another configuration "
                                            f"({config.differences(state.config)})")
            return state
    save_json(folder / "config.json", config.as_dict())
    return TrainingState.initial(config, device)


def train(config, epochs, device, results=None, log_every=1000, checkpoint_every=None, progress=True,
          engine="auto", jobs=1, backend="loky", scheduler=None):
    """Train the networks of ``config`` to ``epochs`` epochs in its folder under ``results``, resuming
    from its checkpoint, by ``engine`` (``kinks.star.reduced.choose_engine``: auto, compiled or
    torch; a started run continues with the engine that started it), checkpointing every
    ``checkpoint_every`` epochs (None: the engine's CHECKPOINT_EVERY); the compiled engine runs its
    chunks on ``jobs`` workers of ``backend``. Returns (folder, state)."""
    choose_engine(engine, config, device)   # a bad --engine is refused before anything is written
    folder = config.folder(results)
    with output_lock(folder, "--results"):
        state = open_folder(config, folder, device)
        state.engine = choose_engine(engine, config, device, recorded=state.engine if state.epoch > 0 else None)
        if state.epoch < epochs and state.engine == "compiled":
            train_compiled(state, epochs, log_every, lambda s: s.save(folder), checkpoint_every or CHECKPOINT_EVERY,
                           jobs, backend, scheduler)
        elif state.epoch < epochs:
            train_epochs(state, epoch_data(state, device), epochs, log_every, lambda s: s.save(folder),
                         checkpoint_every or TORCH_CHECKPOINT_EVERY, progress)
    return folder, state


# ============================================================================= benchmark
BENCHMARK_CASES = ((256, 1000), (4096, 100))
COMPILED_RUNS = 50   # networks the compiled engine is timed on


def timed_epochs(epoch_step, state, data, seconds, device):
    """Epochs per second of ``epoch_step`` with crossing tracking, run for about ``seconds`` (after
    two warm-up epochs) on a copy of ``state``."""
    state = state.copy()
    params, done = state.params, 0
    for _ in range(2):
        params = epoch_step(params, data)[0]
    synchronize(device)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        params, loss, changed = epoch_step(params, data)
        state.record(done, loss, changed)
        done += 1
        if done % 8 == 0:
            synchronize(device)
    synchronize(device)
    return done / (time.perf_counter() - start)


def timed_compiled(config, seconds):
    """Network-epochs per second of the compiled engine (in this process: one thread) on the
    float64 twin of ``config`` with at most COMPILED_RUNS of its networks (a network's cost does
    not depend on P): REBUILD_EVERY epochs from the start untimed (the loops compiled or loaded,
    the rate estimated), then one call of about ``seconds`` (a whole number of REBUILD_EVERY
    epochs), as a run makes one call per checkpoint."""
    from kinks.star.compiled import REBUILD_EVERY

    config = config.replace(dtype="float64", runs=min(config.runs, COMPILED_RUNS))
    state = TrainingState.initial(config, torch.device("cpu"))
    start = time.perf_counter()
    advance(state, REBUILD_EVERY, REBUILD_EVERY)
    rounds = max(1, round(seconds / (time.perf_counter() - start)))
    start = time.perf_counter()
    advance(state, (rounds + 1) * REBUILD_EVERY, REBUILD_EVERY)
    return config.runs * rounds * REBUILD_EVERY / (time.perf_counter() - start)


def benchmark_case(width, runs, dtype, seconds, device):
    """One benchmark row on star_11 at width n and P networks: epochs per second of the fast ReLU
    epoch and of the straightforward autograd epoch on the same tensors, and the speed-up; and
    network-epochs per second of the compiled engine (float64, one thread) beside the fast epoch's
    (epochs per second times P)."""
    config = StarConfig("star_11", width, runs=runs, dtype=dtype)
    state = TrainingState.initial(config, device)
    data = epoch_data(state, device)
    fast = timed_epochs(relu_epoch, state, data, seconds, device)
    slow = timed_epochs(autograd_epoch, state, data, seconds, device)
    compiled = timed_compiled(config, seconds)
    return dict(dataset="star_11", width=width, runs=runs, epochs_per_s=fast, autograd_epochs_per_s=slow,
                speedup=fast / slow, network_epochs_per_s=fast * runs, compiled_network_epochs_per_s=compiled,
                compiled_speedup=compiled / (fast * runs))


# ============================================================================= a whole preset, projected
def projected_preset(configs, epochs, sample, jobs, scratch):
    """The wall time of training every configuration of a preset to ``epochs`` on this machine,
    projected from a sample: each configuration is trained from the start with min(P, ``sample``)
    of its networks (P_s) on ``jobs`` workers into ``scratch`` (its own folders there), timed whole
    (t_s), and scaled to its P networks, t = t_s P / P_s: the networks are independent, so the
    time grows in proportion to P where the sample keeps every worker busy (P_s a multiple of
    CHUNK_NETWORKS x jobs; otherwise the projection is high). A whole run is timed because the
    cost per epoch is not constant: late in training most units of a narrow network sit at a data
    point and are tested every epoch (n = 128: about 5 us per network-epoch at 3 x 10^5 epochs,
    14 us at 10^6). A first run of 100 epochs of one chunk per worker, untimed, loads the compiled
    loops in every worker. Yields one dict per configuration as it finishes: its settings, P, P_s,
    t_s and t in seconds."""
    warm = configs[0].replace(runs=CHUNK_NETWORKS * jobs, seed=configs[0].seed + 1)
    train(warm, 100, torch.device("cpu"), Path(scratch) / "warm-up", progress=False, jobs=jobs)
    for config in configs:
        runs = min(sample, config.runs)
        start = time.perf_counter()
        train(config.replace(runs=runs), epochs, torch.device("cpu"), scratch, progress=False, jobs=jobs)
        seconds = time.perf_counter() - start
        yield dict(config.as_dict(), epochs=epochs, sample=runs, sample_s=seconds,
                   projected_s=seconds * config.runs / runs)
