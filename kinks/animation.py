"""Training you can watch (the glossary's ``animate``): log-spaced snapshot epochs (0, then geometric
up to the last epoch) and frames written as a GIF (matplotlib's Pillow writer) and, where ffmpeg is
installed, an MP4. The wings draw the frames: ``kinks.mc.animation`` (1-D) and
``kinks.star.animation`` (2-D)."""
import shutil
from pathlib import Path

import numpy as np

from kinks.checks import warn
from kinks.figures import FIGURE_RC
from kinks.files import atomic_path

FPS = 8
DPI = 80


def snapshot_epochs(epochs, frames):
    """0 and about ``frames`` - 1 log-spaced epochs in [1, epochs], distinct and increasing, (K,) int."""
    return np.unique(np.concatenate([[0], np.geomspace(1, epochs, max(frames - 1, 1)).round().astype(int)]))


def write_animation(figure, draw, count, stem, mp4=True):
    """Draw frames 0 ... count - 1 (``draw(k)`` updates the figure) into stem.gif by matplotlib's
    Pillow writer and, with ``mp4`` and where ffmpeg is installed, stem.mp4 (a line on stderr says
    when it is not). Each file is written beside its path and renamed onto it (``atomic_path``:
    never half-written, with the umask's mode). Returns the paths written."""
    import matplotlib
    from matplotlib.animation import FFMpegWriter, PillowWriter

    stem = Path(stem)
    writers = [(PillowWriter(fps=FPS), ".gif")]
    if mp4 and shutil.which("ffmpeg") and FFMpegWriter.isAvailable():
        writers.append((FFMpegWriter(fps=FPS, codec="h264", extra_args=["-pix_fmt", "yuv420p"]), ".mp4"))
    elif mp4:
        warn("ffmpeg is not installed: no MP4 written (the GIF is)")
    paths = []
    for writer, suffix in writers:
        path = stem.with_suffix(suffix)
        with atomic_path(path, suffix) as tmp, matplotlib.rc_context(FIGURE_RC), writer.saving(figure, tmp, DPI):
            for k in range(count):
                draw(k)
                writer.grab_frame()
        paths.append(path)
    return paths
