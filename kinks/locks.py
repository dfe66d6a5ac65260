"""One lock per output folder (``output_lock``): a command that writes a folder holds an exclusive
``flock`` on the file ``.kinks.lock`` in it from before it writes (or checks) the folder to its end,
so that two processes never write one folder at once. The kernel drops the lock when its holder
exits, however it exits (SIGKILL included), so a lock is never left behind; the file, removed at the
end, only records who holds it (PID, host, since when), for the one-line refusal of a second process
and the warning of one that takes over a lock whose holder died. A file in the way of the folder is
refused here in one line too. Nothing here depends on time: a process that finds the lock taken
waits for one of two events, the holder's record or the lock's release. On NFS, Linux emulates flock
by POSIX byte-range locks held by the server (see docs/clusters.md for what that guarantees)."""
import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from kinks.checks import UsageError, warn

LOCK_NAME = ".kinks.lock"
RECORD_POLL_S = 0.01  # how often a process that found the lock taken looks for the holder's record again
_HELD = {}  # lock file (resolved) -> [its open fd, how many nested output_lock blocks hold it, folders it made]


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


def write_holder(fd):
    """Record this process (PID, host, time) in the lock file open as ``fd``."""
    record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, (json.dumps(record) + "\n").encode())
    os.fsync(fd)


def require_no_file(folder, option):
    """A UsageError naming ``option`` if ``folder`` exists as something other than a folder."""
    if folder.exists() or folder.is_symlink():
        raise UsageError(f"{option}: {folder} is a file, not a folder")


def make_folder(target, option):
    """Create the folder ``target`` and its missing parents; returns the folders it created,
    deepest first. A file in the way (``target`` or a parent), or a folder that cannot be made,
    is a UsageError naming ``option``."""
    missing = []
    for folder in (target, *target.parents):
        if folder.is_dir():
            break
        require_no_file(folder, option)
        missing.append(folder)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{option} {target}: cannot make the folder ({error.strerror})") from None
    return missing


def same_file(fd, path):
    """Whether ``path`` still names the file open as ``fd`` (a holder removes the lock file when it
    releases it; a process that opened the old file must lock the new one)."""
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def try_lock(path):
    """Open ``path`` (created if absent) and try to lock it without waiting: (fd, whether locked)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd, True
    except BlockingIOError:
        return fd, False


def acquire(path, target, option):
    """Lock ``path`` without waiting for its holder: its fd; a UsageError naming the holder if
    another process holds it; a warning where a dead holder's record is still there (taken over).

    A holder records itself right after it took the lock, so a process that lost the race by
    microseconds may find the record still empty: it looks again until the record is there (then
    it is refused) or the lock is free (then it takes it), whichever comes first; how long that
    takes decides nothing."""
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)  # a holder that released may have removed it
        try:
            fd, locked = try_lock(path)
        except FileNotFoundError:  # removed between the two calls: make it again
            continue
        if locked and same_file(fd, path):
            break
        holder = "" if locked else read_holder(fd)
        os.close(fd)
        if holder:
            raise UsageError(f"{option} {target} is in use by {holder}; rerun when it ends")
        if not locked:
            time.sleep(RECORD_POLL_S)
    stale = read_holder(fd)
    if stale:
        warn(f"{option} {target}: took over the lock of {stale} (that process is gone)")
    write_holder(fd)
    return fd


def release(path, fd, made):
    """Clear the record, remove the lock file and drop the lock; where this process made the folder
    and wrote nothing into it, remove the folders it made, so that a refused command leaves none."""
    os.ftruncate(fd, 0)
    path.unlink(missing_ok=True)
    if made and not os.listdir(made[0]):
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # another process writes there now
                break
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextmanager
def output_lock(target, option="--out", name=LOCK_NAME):
    """Hold the lock of the output folder ``target`` (the file ``target``/``name``) for the block.

    Another process holding it: a UsageError (one line, exit 2) 'OPTION TARGET is in use by PID p
    on host h since t; rerun when it ends'. A file where the folder should be: a UsageError
    'OPTION: PATH is a file, not a folder'. A lock left by a process that is gone is
    taken over with a warning. Nested blocks of one process on the same folder share the lock (a
    command that calls ``run_chunks`` holds it from its own start). Released on every exit: the
    record is cleared, the lock file removed and the lock dropped, and a folder this block made is
    removed again if the block wrote nothing into it; a killed process's lock is dropped by the
    kernel (its lock file and record stay, and the next holder warns that it took it over).

    Args:
        target: the folder written (created if absent).
        option: the option that named it, for the messages ('--out', '--results').
        name: the lock file's name in ``target`` (``fit`` locks one file: '.<file>.lock').
    """
    target = Path(target)
    path = (target / name).resolve()
    held = _HELD.get(path)
    if held is not None:
        held[1] += 1
    else:
        made = [folder.absolute() for folder in make_folder(target, option)]
        _HELD[path] = held = [acquire(path, target, option), 1, made]
    try:
        yield path
    finally:
        held[1] -= 1
        if held[1] == 0:
            del _HELD[path]
            release(path, held[0], held[2])
