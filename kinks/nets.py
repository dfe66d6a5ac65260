"""PyTorch pieces that the star and sweep scripts share: the --device and --dtype options (with why
CUDA is absent), the --threads option, device synchronisation for timings, and the device policy
(a start drawn on the CPU in float64, then cast and moved: ``moved``)."""
import re

from kinks.checks import check_choice, check_int, require


def cuda_absence():
    """Why torch sees no CUDA device: a CPU-only build of torch, or no usable GPU."""
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is built without CUDA"
    return f"torch {torch.__version__} is built for CUDA {torch.version.cuda}, but finds no usable GPU"


def torch_device(name="auto"):
    """The torch device for ``--device``: 'auto' (CUDA when available, else CPU), 'cpu', 'cuda'
    (the current CUDA device) or 'cuda:K' (device K, 0 <= K < torch.cuda.device_count()). CUDA
    asked for but absent, or a device index this machine lacks, is a UsageError of one line."""
    import torch

    match = re.fullmatch(r"cuda(?::(\d+))?", name) if isinstance(name, str) else None
    require(name in ("auto", "cpu") or match is not None,
            f"--device must be auto, cpu, cuda or cuda:K (K a device index); got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    require(torch.cuda.is_available(), f"--device {name} asked for, but CUDA is not available on this machine "
            f"({cuda_absence()}); use --device cpu or auto")
    count = torch.cuda.device_count()
    require(match is None or match[1] is None or int(match[1]) < count,
            f"--device {name}: no such CUDA device; this machine has {', '.join(f'cuda:{k}' for k in range(count))}")
    return torch.device(name)


def torch_dtype(name="float32"):
    """The torch dtype for ``--dtype``: float32 or float64."""
    import torch

    check_choice("dtype", name, ("float32", "float64"))
    return getattr(torch, name)


def set_threads(threads=None):
    """``--threads``: torch's CPU threads for this process (None: torch's choice, all cores)."""
    import torch

    if threads is not None:
        torch.set_num_threads(check_int("threads", threads))


def synchronize(device):
    """Wait until the queued kernels of ``device`` have run (CUDA runs them asynchronously), so
    that a wall-clock reading covers them; nothing to wait for on the CPU."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def moved(tensors, device, dtype, keep=()):
    """{name: tensor} cast to ``dtype`` and moved to ``device``, the entries named in ``keep`` (plain
    numbers) left as they are. The scripts draw every start on the CPU in float64 and only then call
    this, so that every device and thread count starts from identical tensors."""
    return {k: v if k in keep else v.to(device=device, dtype=dtype) for k, v in tensors.items()}
