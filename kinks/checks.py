"""Checks of user input, shared by the library and the command line: ``UsageError`` (bad input,
reported as one line and exit 2 by ``utils.run_cli``), ``require`` and the option checks, and
``warn``, the one way a warning is printed (one line on stderr)."""
import sys

import numpy as np
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


def _parse_number(text):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


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


def warn(message):
    """Print ``warning: message`` as one line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def renamed_value(option, value, renames):
    """``value``, or its new name where ``renames`` {old: new} lists it, with a one-line warning."""
    if isinstance(value, str) and value in renames:
        warn(f"--{option} {value} is deprecated; use --{option} {renames[value]}")
        return renames[value]
    return value


def check_jobs(jobs):
    """``--jobs`` as an int: a positive number of worker processes, or -1 for all cores."""
    ok = isinstance(jobs, (int, np.integer)) and not isinstance(jobs, bool) and (jobs >= 1 or jobs == -1)
    require(ok, f"--jobs must be a positive integer or -1 (all cores); got {jobs!r}")
    return int(jobs)


def check_leak(leak):
    """``--leak`` alpha of sigma_alpha(z) = max(z, alpha z) as a float in [0, 1)."""
    leak = check_float("leak", leak, minimum=0.0)
    require(leak < 1, f"--leak must be in [0, 1); got {leak!r}")
    return leak
