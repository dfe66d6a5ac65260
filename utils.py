"""Helpers shared by the scripts: CLI errors, atomic plain-data files, the parallel map,
binomial confidence intervals, standalone LaTeX figures and the PyTorch device choice."""
import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------- command line
class UsageError(Exception):
    """Bad input from the command line: reported as one line, exit code 2, nothing written."""


def require(condition, message):
    """Raise ``UsageError(message)`` unless ``condition`` holds."""
    if not condition:
        raise UsageError(message)


def check_choice(option, value, allowed):
    """``value`` if it is one of ``allowed``, else a UsageError naming ``--option``."""
    require(value in allowed, f"--{option} must be one of {', '.join(map(str, allowed))}; got {value!r}")
    return value


def check_int(option, value, minimum=1):
    """``value`` as an int >= ``minimum`` (bools and text refused)."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum
    require(ok, f"--{option} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_float(option, value, minimum=None, strict=False):
    """``value`` as a finite float, optionally > (``strict``) or >= ``minimum``."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and np.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum}"
    require(ok, f"--{option} must be a finite number{bound}; got {value!r}")
    return float(value)


def as_list(option, value, check):
    """A non-empty list from a CLI value that fire hands over as a scalar, tuple/list or
    comma-separated string; ``check(option, item)`` validates and converts each item."""
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",") if s.strip()]
        items = [_parse_number(s) for s in items]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    require(len(items) > 0, f"--{option} must not be empty")
    return [check(option, item) for item in items]


def _parse_number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# The command line of every script: ``script.py COMMAND [--option VALUE | --flag] ...``.
# ``run_cli`` reads sys.argv itself, checks every option name against the command's signature
# before the command starts (so a misspelled option costs nothing), turns the values of boolean
# options into bools, keeps the values of folder options as text, lets fire's parser read the
# other values ("16,32" -> (16, 32), "1e-3" -> 0.001, anything else stays text), then calls the
# command. Errors, Ctrl-C and --help end in a
# fixed way: see ``run_cli``.
BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
FOLDER_OPTIONS = ("results", "out", "input")  # folders: their values stay text (a folder may be called 2024)
INTERRUPTED = "interrupted; rerun the same command to resume"


class Invocation:
    """A parsed command line: the command's name and function, its keyword arguments, and the
    deprecation warnings to print (one per old option spelling used)."""

    def __init__(self, name, function, kwargs, warnings=(), help=False):
        self.name, self.function, self.kwargs = name, function, kwargs
        self.warnings, self.help = list(warnings), help


def closest(name, candidates, prefix=""):
    """'; did you mean <prefix>X?' for the candidate X closest to ``name`` (difflib ratio >= 0.6), else ''."""
    import difflib

    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {prefix}{match[0]}?" if match else ""


def command_options(function):
    """{option name: inspect.Parameter} of a command: its keyword parameters."""
    import inspect

    return {name: parameter for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)}


def is_boolean(parameter):
    """Whether an option is a flag: its default is a bool or its annotation is ``bool``."""
    return isinstance(parameter.default, bool) or parameter.annotation is bool


def parse_boolean(option, text):
    """True/False from true/false/yes/no/1/0 (any case); anything else is a UsageError."""
    value = BOOLEAN_WORDS.get(str(text).strip().lower())
    require(value is not None, f"--{option} must be true, false, yes, no, 1 or 0; got {text!r}")
    return value


def parse_value(text):
    """An option's value as fire reads it: a Python literal where ``text`` is one (numbers,
    tuples from comma lists, None), else the text itself."""
    from fire.parser import DefaultParseValue

    return DefaultParseValue(text)


def parse_command_line(commands, argv, aliases=None):
    """The Invocation for ``argv`` (without the script name). ``aliases`` {old: new} renames an
    old option spelling for every command that has an option ``new`` and none called ``old``.
    Raises UsageError for an unknown command or option (naming the closest valid one), an option
    given twice or without a value, and a boolean option with a value other than
    true/false/yes/no/1/0. Positional values fill the command's options in order."""
    aliases = aliases or {}
    require(argv, f"missing command; one of {', '.join(commands)}")
    name, rest = argv[0], list(argv[1:])
    if name in ("-h", "--help"):
        return Invocation(None, None, {}, help=True)
    require(name in commands, f"unknown command {name!r}{closest(name, commands)} (commands: {', '.join(commands)})")
    options = command_options(commands[name])
    renames = {old: new for old, new in aliases.items() if new in options and old not in options}
    kwargs, positional, warnings = {}, [], []
    while rest:
        token = rest.pop(0)
        if token in ("-h", "--help"):
            return Invocation(name, commands[name], {}, help=True)
        if not token.startswith("--"):
            positional.append(token)
            continue
        option, equals, text = token[2:].partition("=")
        option = option.replace("-", "_")
        if option in renames:
            warnings.append(f"warning: --{option} is deprecated for {name}; use --{renames[option]}")
            option = renames[option]
        negated = option.startswith("no") and option[2:] in options and is_boolean(options[option[2:]])
        require(option in options or negated, f"unknown option --{option} for {name}"
                f"{closest(option, options, '--')} (see {name} --help)")
        if negated:
            require(not equals, f"--{option} takes no value")
            option, value = option[2:], False
        elif is_boolean(options[option]):
            if not equals and rest and not rest[0].startswith("--"):
                equals, text = "=", rest.pop(0)
            value = parse_boolean(option, text) if equals else True
        else:
            if not equals:
                require(rest and not rest[0].startswith("--"), f"--{option} needs a value")
                text = rest.pop(0)
            value = text if option in FOLDER_OPTIONS else parse_value(text)
        require(option not in kwargs, f"--{option} is given twice")
        kwargs[option] = value
    free = [option for option in options if option not in kwargs]
    require(len(positional) <= len(free), f"{name} takes options --name value; unexpected "
            f"{' '.join(positional[len(free):])!r}")
    kwargs.update((option, text if option in FOLDER_OPTIONS else parse_value(text))
                  for option, text in zip(free, positional))
    missing = [o for o, p in options.items() if p.default is p.empty and o not in kwargs]
    require(not missing, f"{name} needs " + ", ".join(f"--{o}" for o in missing))
    return Invocation(name, commands[name], kwargs, warnings)


def docstring_sections(function):
    """(description, {option: text}) from a command's docstring: the text before 'Args:' and
    the entries 'name: text' of its Args section (continuation lines indented deeper)."""
    import inspect

    doc = inspect.getdoc(function) or ""
    description, _, args = doc.partition("\nArgs:\n")
    entries, current = {}, None
    for line in args.splitlines():
        match = re.match(r"^\s{0,4}(\w+):\s*(.*)$", line)
        if match and not line.startswith(" " * 5):
            current = match.group(1)
            entries[current] = match.group(2)
        elif current is not None and line.strip():
            entries[current] += " " + line.strip()
    return description.strip(), entries


def default_text(parameter):
    """How --help shows a default: the value as it is typed ('16,32' for a tuple), or '' for
    None, whose real default the option's docstring entry states."""
    default = parameter.default
    if default is parameter.empty:
        return "required"
    if default is None:
        return ""
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, (tuple, list)):
        return ",".join(map(str, default))
    return str(default)


def command_help(script, name, function):
    """The --help text of one command: usage, its docstring description, and a line per option
    with its default (from the signature) and its docstring entry (values allowed, preset defaults)."""
    description, entries = docstring_sections(function)
    lines = [f"usage: {script} {name} [--option VALUE ...]", "", description, "", "options:"]
    for option, parameter in command_options(function).items():
        shown = default_text(parameter)
        kind = " (true/false)" if is_boolean(parameter) else ""
        default = f" [default: {shown}]" if shown else ""
        lines.append(f"  --{option}{kind}{default}")
        lines.append(textwrap.fill(entries.get(option, "(not documented)"), 100, initial_indent=" " * 6,
                                   subsequent_indent=" " * 6))
    return "\n".join(lines)


def script_help(script, commands):
    """The --help text of a script: its commands with the first line of their docstrings."""
    width = max(map(len, commands))
    lines = [f"usage: {script} COMMAND [--option VALUE ...]   ({script} COMMAND --help for its options)", "",
             "commands:"]
    for name, function in commands.items():
        summary = " ".join(docstring_sections(function)[0].split("\n\n")[0].split()).split(". ")[0]
        lines.append(f"  {name:<{width}}  {summary}")
    return "\n".join(lines)


def stop_after_interrupt():
    """Clean up after Ctrl-C: close the open tqdm bars (so the last line printed is ours) and
    shut down the worker processes this process may have started (joblib's loky executor), so
    that an interrupted command leaves no processes and no semaphores behind."""
    tqdm_module = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm_module, "tqdm", None), "_instances", ())):
        bar.close()
    executor_module = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(executor_module, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


def run_cli(commands, aliases=None):
    """Run the command named in sys.argv: ``script.py COMMAND [--option VALUE ...]``.

    commands: {name: function}; a function's keyword parameters are its options. aliases:
    {old: new} option spellings accepted with a one-line deprecation warning on stderr.
    Outcomes: --help (or no command) prints the generated help, exit 0; bad input (an unknown
    command or option, a bad boolean, a UsageError raised by the command) prints one line
    'error: ...' on stderr and exits 2, before any work where the command line itself is wrong;
    Ctrl-C prints 'interrupted; rerun the same command to resume', stops the worker pools and
    exits 130."""
    import signal

    script = Path(sys.argv[0]).name
    try:
        if len(sys.argv) < 2:
            print(script_help(script, commands))
            return
        invocation = parse_command_line(commands, sys.argv[1:], aliases)
        if invocation.help:
            print(command_help(script, invocation.name, invocation.function) if invocation.name
                  else script_help(script, commands))
            return
        for warning in invocation.warnings:
            print(warning, file=sys.stderr)
        invocation.function(**invocation.kwargs)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not break the clean-up
        stop_after_interrupt()
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)


# ----------------------------------------------------------------------------- atomic files
def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it onto ``path``,
    so that ``path`` is either absent or complete, never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def save_text(path, text):
    """Save a text file atomically."""
    atomic_write(path, lambda f: f.write(text.encode()))


# ----------------------------------------------------------------------------- parallel map
def parallel_map(function, tasks, jobs=-1, desc="tasks", backend="loky", scheduler=None):
    """Yield ``function(task)`` for every task, in completion order, with a tqdm progress bar.

    backend 'loky': ``jobs`` joblib worker processes on this machine (-1: all cores; 1: in this
    process). backend 'dask': the workers of a dask.distributed cluster, chosen by ``scheduler``
    as in ``backend_client`` (None: a LocalCluster of ``jobs`` processes here). A task lost with
    a worker that dies is rescheduled by Dask on another worker."""
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
                results = Parallel(n_jobs=jobs, return_as="generator_unordered")(
                    delayed(call_in_worker)(function, task) for task in tasks)
        for result in results:
            bar.update()
            yield result


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


# ----------------------------------------------------------------------------- tables and figures
def save_csv(path, records, columns):
    """Write ``records`` (dicts) with ``columns`` as CSV, atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    save_text(path, buffer.getvalue())


class SeriesStyle:
    """How one data series looks, the same in matplotlib and in pgfplots: a colour (hex RGB), a
    matplotlib marker and the pgfplots mark of the same shape."""

    def __init__(self, color, marker, mark):
        self.color, self.marker, self.mark = color, marker, mark


# Okabe & Ito's colour-blind-safe palette (yellow left out: too light on white), each colour with
# its own marker shape, so series also differ in greyscale print.
SERIES_STYLES = (SeriesStyle("0072B2", "o", "*"), SeriesStyle("D55E00", "s", "square*"),
                 SeriesStyle("009E73", "^", "triangle*"), SeriesStyle("CC79A7", "D", "diamond*"),
                 SeriesStyle("E69F00", "p", "pentagon*"), SeriesStyle("56B4E9", "x", "x"),
                 SeriesStyle("000000", "+", "+"))
LINE_WIDTH_PT = 1.2  # series lines and error bars
MARK_RADIUS_PT = 2.5  # pgfplots 'mark size' (a radius); matplotlib's markersize is the diameter
GUIDE_COLOR = "808080"  # reference lines, dashed
# Matplotlib settings of every figure: TrueType (Type 42) fonts in PDF and PS files, which
# publishers accept, instead of matplotlib's default Type 3 fonts.
FIGURE_RC = {"pdf.fonttype": 42, "ps.fonttype": 42}


def series_style(index):
    """The style of series ``index`` (cycling through SERIES_STYLES)."""
    return SERIES_STYLES[index % len(SERIES_STYLES)]


def new_figure(width=6.4, height=4.4):
    """A matplotlib Figure with one axes, without pyplot (no GUI backend, no global state)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def save_figure(figure, path, tight=False):
    """Save ``figure`` to ``path`` (format from the suffix) with FIGURE_RC, atomically; returns ``path``.
    tight: crop to the drawn content (legends placed outside the axes included)."""
    import matplotlib

    path = Path(path)
    extra = dict(bbox_inches="tight") if tight else {}
    with matplotlib.rc_context(FIGURE_RC):
        atomic_write(path, lambda file: figure.savefig(file, format=path.suffix[1:], dpi=150, **extra))
    return path


def save_png_and_pdf(figure, stem, tight=False):
    """``figure`` as stem.png and stem.pdf (see ``save_figure``); returns the two paths."""
    stem = Path(stem)
    return [save_figure(figure, stem.with_name(stem.name + suffix), tight) for suffix in (".png", ".pdf")]


TEX_SPECIAL = {"_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}",
               "\\": r"\textbackslash{}", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}


def tex_escape(text):
    """``text`` with every character LaTeX treats specially (_ % & # $ { } \\ ^ ~) escaped, in one
    pass so that no escape is escaped again; 'Delta = x' becomes $\\Delta = x$."""
    text = re.sub(r"[_%&#${}\\^~]", lambda match: TEX_SPECIAL[match[0]], str(text))
    return re.sub(r"Delta = (\S+)", r"$\\Delta = \1$", text)


# ----------------------------------------------------------------------------- statistics
def clopper_pearson(successes, trials, level=0.95):
    """Exact (Clopper-Pearson) two-sided confidence interval for a binomial proportion:
    lower = Beta^{-1}(alpha/2; k, n-k+1), upper = Beta^{-1}(1-alpha/2; k+1, n-k),
    with lower = 0 at k = 0 and upper = 1 at k = n. Works elementwise on arrays."""
    from scipy.stats import beta

    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    alpha = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(k > 0, beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        upper = np.where(k < n, beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    return lower, upper


# ----------------------------------------------------------------------------- LaTeX figures
def standalone_tex(body):
    """A complete standalone LaTeX document: ``tex_head.txt`` + ``body`` + ``tex_tail.txt``."""
    head = (ROOT / "tex_head.txt").read_text()
    tail = (ROOT / "tex_tail.txt").read_text()
    return head + body.rstrip("\n") + "\n" + tail


def compile_tex(tex_path, mode="auto"):
    """Compile ``tex_path`` with pdflatex to a PDF beside it and return the PDF's path.

    mode: 'yes' (error if pdflatex is missing), 'no' (skip), 'auto' (compile when pdflatex is
    found, else say so and skip). Returns None when skipped. Compiles in a temporary folder, so
    a failed compilation leaves no partial PDF."""
    check_choice("compile", mode, ("auto", "yes", "no"))
    tex_path = Path(tex_path)
    if mode == "no":
        return None
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        require(mode == "auto", "--compile yes needs pdflatex, which is not installed "
                "(install TeX Live: bash install.sh --tex)")
        print(f"pdflatex not found: skipped compiling {tex_path} (install TeX Live: bash install.sh --tex)")
        return None
    with tempfile.TemporaryDirectory() as build:
        result = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error",
                                 f"-output-directory={build}", str(tex_path.resolve())],
                                capture_output=True, text=True, cwd=build)
        built = Path(build) / (tex_path.stem + ".pdf")
        if result.returncode != 0 or not built.exists():
            log_tail = "\n".join(result.stdout.splitlines()[-20:])
            raise RuntimeError(f"pdflatex failed on {tex_path}:\n{log_tail}")
        pdf = tex_path.with_suffix(".pdf")
        atomic_write(pdf, lambda f: f.write(built.read_bytes()))
    return pdf


# ----------------------------------------------------------------------------- PyTorch
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


def cuda_absence():
    """Why torch sees no CUDA device: a CPU-only build of torch, or no usable GPU."""
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is built without CUDA"
    return f"torch {torch.__version__} is built for CUDA {torch.version.cuda}, but finds no usable GPU"


def torch_dtype(name="float32"):
    """The torch dtype for ``--dtype``: float32 or float64."""
    import torch

    check_choice("dtype", name, ("float32", "float64"))
    return getattr(torch, name)
