"""One lock per output folder (``output_lock``): a command that writes a folder holds an exclusive
``flock`` on the file ``.kinks.lock`` in it from before the folder is checked to its end, so that two
processes never write one folder at once. The kernel drops the lock when its holder exits, however it
exits (SIGKILL included), so a lock is never left behind; the file only records who holds it (PID,
host, since when), for the one-line refusal of a second process and the warning of one that takes
over a lock whose holder died. On NFS, Linux emulates flock by POSIX byte-range locks held by the
server (see docs/clusters.md for what that guarantees)."""
import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from kinks.checks import UsageError, warn

LOCK_NAME = ".kinks.lock"
_HELD = {}  # lock file (resolved) -> [its open fd, how many nested output_lock blocks of this process hold it]


def holder_text(text):
    """'PID p on host h since t' from a lock file's JSON record, or '' if it holds none."""
    try:
        record = json.loads(text)
        return f"PID {record['pid']} on host {record['host']} since {record['since']}"
    except (ValueError, TypeError, KeyError):
        return ""


def read_holder(fd):
    """The record of the lock file open as ``fd``, as 'PID p on host h since t' ('' if empty)."""
    os.lseek(fd, 0, os.SEEK_SET)
    return holder_text(os.read(fd, 4096).decode(errors="replace"))


def awaited_holder(fd, seconds=2.0):
    """The holder of a lock just found taken (see ``read_holder``). A holder writes its record
    right after it took the lock, so a process that lost the race by microseconds may find the
    file still empty: it reads again for up to ``seconds`` before giving up ('')."""
    deadline = time.monotonic() + seconds
    holder = read_holder(fd)
    while not holder and time.monotonic() < deadline:
        time.sleep(0.02)
        holder = read_holder(fd)
    return holder


def write_holder(fd):
    """Record this process (PID, host, time) in the lock file open as ``fd``."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(record) + "\n").encode())
    os.fsync(fd)


def acquire(path, target, option):
    """Open and lock ``path`` without waiting: its fd; a UsageError naming the holder if another
    process holds it; a warning where a dead holder's record is still there (taken over)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = awaited_holder(fd) or "another process"
        os.close(fd)
        raise UsageError(f"{option} {target} is in use by {holder}; rerun when it ends") from None
    stale = read_holder(fd)
    if stale:
        warn(f"{option} {target}: took over the lock of {stale} (that process is gone)")
    write_holder(fd)
    return fd


@contextmanager
def output_lock(target, option="--out", name=LOCK_NAME):
    """Hold the lock of the output folder ``target`` (the file ``target``/``name``) for the block.

    Another process holding it: a UsageError (one line, exit 2) 'OPTION TARGET is in use by PID p
    on host h since t; rerun when it ends'. A lock left by a process that is gone is taken over with
    a warning. Nested blocks of one process on the same folder share the lock (a command that calls
    ``run_chunks`` holds it from its own start). Released on every exit: the record is cleared and
    the lock dropped; a killed process's lock is dropped by the kernel (its record stays, and the
    next holder warns that it took it over).

    Args:
        target: the folder written (created if absent).
        option: the option that named it, for the messages ('--out', '--results').
        name: the lock file's name in ``target`` (``fit`` locks one file: '.<file>.lock').
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    path = (target / name).resolve()
    if path in _HELD:
        _HELD[path][1] += 1
    else:
        _HELD[path] = [acquire(path, target, option), 1]
    try:
        yield path
    finally:
        _HELD[path][1] -= 1
        if _HELD[path][1] == 0:
            fd = _HELD.pop(path)[0]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
