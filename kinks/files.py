"""Plain-data result files, each written atomically (a temporary file beside it, then a rename),
so that a file is either absent or complete, with the mode the umask gives (as ``open`` would):
npz without pickle, JSON, CSV and text; and the file-name form of a label (``file_slug``)."""
import contextlib
import csv
import io
import json
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

_UMASK_LOCK = threading.Lock()


def file_mode():
    """The mode a new file gets from ``open``: 0o666 less the process's umask (0o644 under 022).
    Reading the umask means setting it, so the two calls hold a lock against other threads."""
    with _UMASK_LOCK:
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path, suffix=".tmp"):
    """A temporary file beside ``path`` for the block, renamed onto ``path`` when the block ends
    (removed if it fails), so that ``path`` is either absent or complete, never half-written. For
    writers that want a file name (matplotlib's animation writers take the format from ``suffix``).
    The file is hidden (its name starts with '.') and has the umask's mode from its creation on
    (``mkstemp`` alone would leave it 0600, unreadable by the other users and workers of a shared
    file system); a writer that opens it again keeps that mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        os.fchmod(fd, file_mode())
    finally:
        os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path`` (``atomic_path``), flushed to disk,
    then rename it onto ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())


def save_npz(path, **arrays):
    """Save plain (non-object) arrays as an uncompressed ``.npz``, atomically."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    bad = [k for k, v in arrays.items() if v.dtype == object]
    if bad:
        raise TypeError(f"object arrays cannot be saved without pickle: {bad}")
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_npz(path):
    """Load an ``.npz`` without pickle into a dict of arrays."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def save_json(path, obj):
    """Save ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def load_json(path):
    with open(path) as file:
        return json.load(file)


def file_problem(error):
    """What is wrong with a file that could not be read as expected, in words, without the Python
    exception's name: ``error`` from reading it (OSError, a JSON error, a missing key, a wrong type)."""
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON: corrupt or truncated at line {error.lineno}"
    if isinstance(error, OSError):
        return error.strerror or "unreadable"
    if isinstance(error, KeyError):
        return f"no field {error}"
    if isinstance(error, (TypeError, AttributeError)):
        return "its fields are not of the form this version writes"
    return str(error)


def save_text(path, text):
    """Save a text file atomically."""
    atomic_write(path, lambda f: f.write(text.encode()))


def save_csv(path, records, columns):
    """Write ``records`` (dicts) with ``columns`` as CSV, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    save_text(path, buffer.getvalue())


def file_slug(text):
    """``text`` as part of a file name: every character but letters and digits as '_', none at the
    ends ('gd, he init, leak 0.1' -> 'gd__he_init__leak_0_1')."""
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")
