"""The parallel map under every study: joblib (loky) worker processes on this machine or the workers
of a Dask cluster, with a progress bar, and Ctrl-C reaching only the main process."""
import contextlib
import os

from kinks.checks import UsageError, check_choice, require


@contextlib.contextmanager
def sigint_ignored():
    """SIGINT ignored for the block (in the main thread). Processes started in the block inherit
    the ignored SIGINT, and Python keeps it ignored: a Ctrl-C, which the terminal sends to every
    process of its group, then interrupts only this process, which stops the workers itself,
    instead of printing a KeyboardInterrupt traceback from every worker. Only a Ctrl-C within
    the block itself (starting the processes: tens of milliseconds) is lost."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def call_in_worker(function, task):
    """``function(task)`` in a joblib worker process, with tqdm's lock a thread lock: tqdm's default
    lock holds a multiprocessing semaphore, which a worker stopped by Ctrl-C (joblib kills the
    workers of an interrupted Parallel) could not release, leaving 'leaked semaphore' warnings."""
    import threading

    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    return function(task)


@contextlib.contextmanager
def backend_client(backend="loky", scheduler=None, jobs=-1, timeout=10):
    """The ``distributed.Client`` of ``--backend dask`` for the lifetime of the block (None for
    loky). ``scheduler``: None (start a LocalCluster of ``jobs`` single-threaded worker processes
    on 127.0.0.1; -1: one per core), a 'tcp://HOST:PORT' address to join, or a Client, used as
    it is. A scheduler that cannot be reached within ``timeout`` seconds is a UsageError."""
    check_choice("backend", backend, ("loky", "dask"))
    require(backend == "dask" or scheduler is None, "--scheduler needs --backend dask")
    if backend == "loky":
        yield None
        return
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
    elif scheduler is None:
        workers = os.cpu_count() if jobs == -1 else jobs
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
    else:
        require(isinstance(scheduler, str), f"--scheduler must be an address tcp://HOST:PORT; got {scheduler!r}")
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, ValueError) as error:
            raise UsageError(f"--scheduler {scheduler}: no Dask scheduler reachable there "
                             f"within {timeout} s ({error})") from None
        with client:
            yield client


def parallel_map(function, tasks, jobs=-1, desc="tasks", backend="loky", scheduler=None):
    """Yield ``function(task)`` for every task, in completion order, with a tqdm progress bar.

    backend 'loky': ``jobs`` joblib worker processes on this machine (-1: all cores; 1: in this
    process). backend 'dask': the workers of a dask.distributed cluster, chosen by ``scheduler``
    as in ``backend_client`` (None: a LocalCluster of ``jobs`` processes here). A task lost with
    a worker that dies is rescheduled by Dask on another worker. joblib's memory mapping of large
    arrays is off (max_nbytes=None): the tasks are pickled, since the mapped files' cleanup cost
    about 0.8 s per call (the star engine's chunks pass 1.6 MB at n = 2048)."""
    from joblib import Parallel, delayed
    from tqdm import tqdm

    tasks = list(tasks)
    with backend_client(backend, scheduler, jobs) as client, \
            tqdm(total=len(tasks), desc=desc, unit="task", disable=not tasks) as bar:
        if client is not None:
            from distributed import as_completed

            results = (future.result() for future in as_completed(client.map(function, tasks, pure=False)))
        elif jobs == 1:
            results = map(function, tasks)
        else:
            with sigint_ignored():  # the workers, started here, inherit it: Ctrl-C reaches this process only
                results = Parallel(n_jobs=jobs, return_as="generator_unordered", max_nbytes=None)(
                    delayed(call_in_worker)(function, task) for task in tasks)
        for result in results:
            bar.update()
            yield result


