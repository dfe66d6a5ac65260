"""Test-only chunk functions for ``run_chunks(simulate=...)``: chunks that stop where a test wants
them to, so that the tests that kill or interrupt a run, or kill one of its workers, act at a chosen
chunk of the run instead of after a chosen time. A chunk is computed as ``simulate_chunk`` computes
it; a held one then says so by a file in the gate folder (``held-<pid>-<width>-<chunk>``, written
before it waits) and is not returned (so not written) until it is let go: never (``held_after``) or
once the file ``closed`` is gone from the gate folder (``held_while_closed``). Light imports only:
worker processes import this module to unpickle the chunk function."""
import os
import threading
import time
from pathlib import Path

from kinks.mc.study import simulate_chunk

COMPUTED = []  # the chunks this process has computed
CLOSED = "closed"


def announce_held(gate, width, chunk):
    """Say by a file in ``gate`` that this process holds the chunk (width, chunk)."""
    Path(gate, f"held-{os.getpid()}-{width}-{chunk}").touch()


def held_after(gate, passing, config, offset, width, chunk, runs):
    """``simulate_chunk``, except that every chunk after the first ``passing`` ones of this process
    is held forever once computed: the process holding it ends only when it is killed or
    interrupted (with ``--jobs 1`` the chunks are those of the run, in its order)."""
    result = simulate_chunk(config, offset, width, chunk, runs)
    COMPUTED.append(chunk)
    if len(COMPUTED) > passing:
        announce_held(gate, width, chunk)
        threading.Event().wait()
    return result


def held_while_closed(gate, passing, config, offset, width, chunk, runs):
    """``simulate_chunk``, except that a chunk whose index is not in ``passing`` is held, once
    computed, while the file ``closed`` is in ``gate`` (looked for every 10 ms)."""
    result = simulate_chunk(config, offset, width, chunk, runs)
    if chunk not in passing:
        announce_held(gate, width, chunk)
        while Path(gate, CLOSED).exists():
            time.sleep(0.01)
    return result


def held_chunks(gate, pid=None):
    """The held-... files in ``gate`` (of the process ``pid`` only, where given)."""
    return [path for path in Path(gate).glob("held-*") if pid is None or path.name.startswith(f"held-{pid}-")]
