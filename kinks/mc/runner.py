"""Carrying out a study (the glossary's ``run``): the chunk files (an .npz of per-network arrays and
its .json twin, each written atomically) and their validation, the run folder and its run.json,
resuming and extending a study, the parallel computation of the pending chunks (``run_chunks``),
and the status counts of a run folder (``summarize``)."""
import time
from pathlib import Path

import numpy as np

from kinks.checks import UsageError, require, warn
from kinks.files import load_json, load_npz, save_json, save_npz
from kinks.locks import output_lock
from kinks.mc.study import (
    chunk_seed, chunk_size_of, chunk_tasks, complete_config, configuration_differences, extension_problems,
    run_label, simulate_chunk, study_settings)
from kinks.mc.training import STATUSES
from kinks.parallel import backend_client, parallel_map

CHUNK_FORMAT = "kinks-mc-chunk/1"
RUN_FORMAT = "kinks-mc-run/1"


def chunk_path(run_dir, offset, width, chunk):
    """<run dir>/delta_<offset>/n_<width>/chunk_<k>.npz (its JSON twin has suffix .json)."""
    return Path(run_dir) / f"delta_{float(offset)!r}" / f"n_{width}" / f"chunk_{chunk:05d}.npz"


class ChunkError(Exception):
    """A chunk file that is missing, truncated, corrupt or from another configuration."""


def same_study(written, config, width):
    """Whether a chunk written under configuration ``written`` belongs to ``config``: the same
    study settings and the same chunk size at its ``width``."""
    try:
        return study_settings(written) == study_settings(config) and \
            chunk_size_of(written, width) == chunk_size_of(config, width)
    except (TypeError, KeyError, AttributeError):
        return False


def load_chunk(path, config=None, runs=None):
    """Load and validate a chunk: its .json (format; if ``config`` is given, the same study
    settings and chunk size; if ``runs`` is given, that many runs) and its .npz (keys, lengths,
    status names). Returns (meta, arrays); raises ChunkError naming what is wrong."""
    path = Path(path)
    try:
        meta = load_json(path.with_suffix(".json"))
        arrays = load_npz(path)
    except FileNotFoundError as error:
        raise ChunkError(f"{path}: unreadable ({Path(error.filename).name} is missing)") from None
    except Exception:  # any other unreadable file: truncated, not JSON or npz, pickled
        raise ChunkError(f"{path}: unreadable (truncated, corrupt or not a chunk file)") from None
    if not isinstance(meta, dict) or meta.get("format") != CHUNK_FORMAT:
        raise ChunkError(f"{path}: not a chunk of format {CHUNK_FORMAT}")
    if config is not None and not same_study(meta.get("config"), config, meta.get("width")):
        raise ChunkError(f"{path}: written by another configuration")
    if runs is not None and meta.get("runs") != runs:
        raise ChunkError(f"{path}: holds {meta.get('runs')} runs where the run folder now asks for {runs}")
    missing = {"status", "stop_epoch", "first_cross_epoch", "step_size"} - set(arrays)
    if missing:
        raise ChunkError(f"{path}: missing arrays {sorted(missing)}")
    if any(len(arrays[k]) != meta.get("runs") for k in ("status", "stop_epoch", "step_size")):
        raise ChunkError(f"{path}: holds a different number of runs than its .json says")
    if arrays["status"].dtype.kind != "U" or not set(arrays["status"]) <= set(STATUSES):
        raise ChunkError(f"{path}: unknown status names")
    return meta, arrays


def finished_chunks(run_dir, config):
    """(task, arrays) of every valid chunk of ``config`` in ``run_dir``, in the order of
    ``chunk_tasks``; an invalid or missing one is named in a warning and left out."""
    for task in chunk_tasks(run_dir, config):
        try:
            _, arrays = load_chunk(chunk_path(run_dir, task["offset"], task["width"], task["chunk"]), config)
        except ChunkError as error:
            warn(f"{error}; left out")
            continue
        yield task, arrays


def compute_chunk(task):
    """Compute one chunk without writing it: (task, result arrays, the chunk's JSON metadata).
    The task's ``simulate`` (default ``simulate_chunk``) trains its networks: a function
    (config, offset, width, chunk, runs) -> dict of (runs,) arrays holding at least status,
    stop_epoch, first_cross_epoch and step_size (see ``load_chunk``)."""
    start = time.perf_counter()
    simulate = task.get("simulate", simulate_chunk)
    result = simulate(task["config"], task["offset"], task["width"], task["chunk"], task["runs"])
    names, counts = np.unique(result["status"], return_counts=True)
    seed = chunk_seed(task["config"], task["offset"], task["width"], task["chunk"])
    meta = {"format": CHUNK_FORMAT, "offset": task["offset"], "width": task["width"],
            "chunk": task["chunk"], "runs": task["runs"], "seed": task["config"]["seed"],
            "spawn_key": [int(k) for k in seed.spawn_key], "config": task["config"],
            "counts": {str(k): int(v) for k, v in zip(names, counts)},
            "wall_time_s": round(time.perf_counter() - start, 3)}
    return task, result, meta


def write_chunk(task, result, meta):
    """Write a computed chunk: the .npz first, then its .json, each atomically; a chunk counts
    as finished only when both are there and valid. Returns the chunk's status counts."""
    path = chunk_path(task["run_dir"], task["offset"], task["width"], task["chunk"])
    save_npz(path, **result)
    save_json(path.with_suffix(".json"), meta)
    return meta["counts"]


def run_chunk(task):
    """Compute one chunk and write it where it is computed; returns its status counts. A chunk
    found finished is read, not recomputed: Dask reruns a task whose result it lost with a
    worker, though the task may have written its chunk before the worker died."""
    try:
        return load_chunk(chunk_path(task["run_dir"], task["offset"], task["width"], task["chunk"]),
                          task["config"], task["runs"])[0]["counts"]
    except ChunkError:
        return write_chunk(*compute_chunk(task))


MANIFEST_KEYS = {"offsets": list, "widths": list, "runs": int, "chunk_sizes": list, "seed": int}


def manifest_problem(manifest):
    """What makes ``manifest`` (run.json, parsed) not a run folder's record, in words; '' if nothing."""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        return "it holds no configuration (not a run.json of mc_training.py or mc_minima.py)"
    if manifest.get("format", RUN_FORMAT) != RUN_FORMAT:
        return f"its format is {manifest['format']!r}, not {RUN_FORMAT}"
    config = manifest["config"]
    wrong = [key for key, kind in MANIFEST_KEYS.items() if not isinstance(config.get(key), kind)]
    if wrong:
        return f"its configuration lacks {', '.join(wrong)} or holds them in another form"
    if len(config["widths"]) != len(config["chunk_sizes"]):
        return "its configuration has not one chunk size per width"
    return ""


def read_manifest(path):
    """The run.json at ``path`` as a dict with a 'config'; a UsageError naming it and what is wrong
    with it (unreadable, not JSON, not a run's record) otherwise."""
    try:
        manifest = load_json(path)
    except OSError as error:
        raise UsageError(f"{path} is unreadable ({error.strerror}); remove the folder or choose another") from None
    except ValueError:
        raise UsageError(f"{path} is not JSON (corrupt or truncated); remove the folder or choose another") from None
    problem = manifest_problem(manifest)
    require(not problem, f"{path} is not a run folder's run.json: {problem}; remove the folder or choose another")
    return manifest


def prepare_run_dir(run_dir, config):
    """Create ``run_dir`` with its run.json; or check that the existing one holds the same study
    or one that ``config`` extends (then run.json is rewritten to describe the extended study);
    anything else is refused, naming the differences in user-facing options."""
    manifest_path = Path(run_dir) / "run.json"
    manifest = {"format": RUN_FORMAT, "config": config, "label": run_label(config),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if manifest_path.exists():
        old = read_manifest(manifest_path)
        old["config"] = complete_config(old["config"])  # fields added later get their old meaning
        if old["config"] == config:
            return
        problems = extension_problems(old["config"], config)
        require(not problems, f"{run_dir} holds a different study ({'; '.join(problems)}); use the same "
                              f"options (more --runs, --widths or --offsets extend it) or another --out")
        print(f"extending {run_dir}: " + "; ".join(configuration_differences(old["config"], config)))
        manifest = {**old, "config": config, "extended": manifest["created"]}
    save_json(manifest_path, manifest)


def pending_tasks(run_dir, config, announce=True):
    """The tasks whose chunk is not finished; with ``announce`` a corrupt chunk is named in a
    warning, as it is to be redone."""
    pending = []
    for task in chunk_tasks(run_dir, config):
        path = chunk_path(run_dir, task["offset"], task["width"], task["chunk"])
        if not path.exists() and not path.with_suffix(".json").exists():
            pending.append(task)
            continue
        try:
            load_chunk(path, config, task["runs"])
        except ChunkError as error:
            if announce:
                warn(f"{error}; recomputing it")
            pending.append(task)
    return pending


def carry_out(run_dir, config, jobs=-1, backend="loky", scheduler=None, results_on_client=False, label="",
              simulate=simulate_chunk):
    """The work of ``run_chunks`` (which see), returning how many chunks it computed and how many
    it found finished: (computed, reused)."""
    with backend_client(backend, scheduler, jobs) as client, output_lock(run_dir, "--out"):
        prepare_run_dir(run_dir, config)
        tasks = sorted(pending_tasks(run_dir, config), key=lambda task: -task["width"])  # longest first
        total = len(chunk_tasks(run_dir, config))
        print(f"{run_dir}: {label}; {total - len(tasks)} of {total} chunks already finished")
        start = time.perf_counter()
        function = compute_chunk if results_on_client else run_chunk
        tasks = [{**task, "simulate": simulate} for task in tasks]
        for outcome in parallel_map(function, tasks, jobs, "chunks", backend, client):
            if results_on_client:
                write_chunk(*outcome)
        print(f"{len(tasks)} chunks computed, {total - len(tasks)} reused, in {time.perf_counter() - start:.1f} s")
    return len(tasks), total - len(tasks)


def run_chunks(run_dir, config, jobs=-1, backend="loky", scheduler=None, results_on_client=False,
               label="", simulate=simulate_chunk):
    """Carry out a study: compute (or resume, or extend) the chunks of ``config`` in ``run_dir``.

    The run folder is locked (``output_lock``) before it is checked, until the end: another
    process writing it is refused. A different study there is refused, finished chunks are kept,
    corrupt ones named in a warning and recomputed, the widest chunks scheduled first; each chunk is
    written as soon as it is computed (by the worker, or here with ``results_on_client``). The results do not depend on
    ``jobs`` or the backend: every chunk's numbers come from its own seed (``chunk_seed``).

    Args:
        run_dir: the run folder (created with its run.json if absent).
        config: the study's configuration (``make_config``, or another study's dict such as the
            risk study's ``risk_config``).
        jobs: worker processes, -1 for all cores, 1 in this process.
        backend: loky (processes here) | dask (a dask.distributed cluster).
        scheduler: with dask, the address tcp://HOST:PORT (None: a LocalCluster of ``jobs``).
        results_on_client: with dask, send each chunk back to be written here.
        label: what the first line printed says the study is.
        simulate: the chunk function (config, offset, width, chunk, runs) -> dict of (runs,)
            arrays (see ``compute_chunk``); an importable module-level function, so that workers
            import it (and numba's cached compiled loops) instead of unpickling a copy.
    Returns:
        The run folder, as text.
    Example:
        >>> from kinks.mc.study import make_config
        >>> config = make_config("quick", widths=[16], runs=100, offsets=[0.0])
        >>> run_dir = run_chunks(Path("results/mc/small"), config, jobs=1)  # doctest: +ELLIPSIS
        results/mc/small: ...; 0 of 1 chunks already finished
        1 chunks computed, 0 reused, in ... s
        >>> summarize(run_dir)[(0.0, 16)]["runs"]
        100
    """
    carry_out(run_dir, config, jobs, backend, scheduler, results_on_client, label, simulate)
    return str(run_dir)


def summarize(run_dir):
    """Status counts per (offset, width) over the valid chunks of a run: a dict
    {(offset, width): {"chunks": done, "total": expected, "runs": r, STATUS: count, ...}}."""
    config = read_manifest(Path(run_dir) / "run.json")["config"]
    table = {}
    for task in chunk_tasks(run_dir, config):
        row = table.setdefault((task["offset"], task["width"]), {"chunks": 0, "total": 0, "runs": 0})
        row["total"] += 1
        try:
            meta, _ = load_chunk(chunk_path(run_dir, task["offset"], task["width"], task["chunk"]), config,
                                 task["runs"])
        except ChunkError:
            continue
        row["chunks"] += 1
        row["runs"] += meta["runs"]
        for name, count in meta["counts"].items():
            row[name] = row.get(name, 0) + count
    return table
