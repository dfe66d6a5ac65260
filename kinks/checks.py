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


INT_MAX = 2**31 - 1  # the largest count or seed an option takes (1e300 is a typo, not a count)


def integral(value):
    """``value`` as an int where it is an integer or an integral finite float (1e3 -> 1000), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and np.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def check_int(option, value, minimum=1, maximum=INT_MAX):
    """``value`` as an int in [``minimum``, ``maximum``]; an integral float such as 1e3 is taken as
    1000; bools, text and fractions are refused."""
    number = integral(value)
    ok = number is not None and minimum <= number <= maximum
    require(ok, f"--{option} must be an integer >= {minimum} (at most {maximum}; 1e3 reads as 1000); got {value!r}")
    return number


def check_float(option, value, minimum=None, strict=False, maximum=None):
    """``value`` as a finite float, optionally > (``strict``) or >= ``minimum`` and <= ``maximum``."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and np.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
    bound += "" if maximum is None else f"{' and' if bound else ''} <= {maximum:g}"
    require(ok, f"--{option} must be a finite number{bound}; got {value!r}")
    return float(value)


MAGNITUDE = 1e6  # the largest |value| of a data point, target or offset (1e300 is a typo, not data)


def check_offset(option, value):
    """An offset Delta added to y (or a coordinate of the data) as a float with |value| <= MAGNITUDE."""
    return check_float(option, value, -MAGNITUDE, maximum=MAGNITUDE)


def _parse_number(text):
    """A comma-list item as an int, else a float, else the text itself ('16' -> 16, '1e3' -> 1000.0)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def as_list(option, value, check):
    """A non-empty list without repeats from a CLI value that fire hands over as a scalar,
    tuple/list or comma-separated string; ``check(option, item)`` validates and converts each
    item. An empty item ('16,,32') and a repeated one ('16,16') are refused."""
    if isinstance(value, str):
        items = [s.strip() for s in value.split(",")]
        require(value.strip() and all(items), f"--{option} must be a comma list without empty items; got {value!r}")
        items = [_parse_number(s) for s in items]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    require(len(items) > 0, f"--{option} must not be empty")
    checked = [check(option, item) for item in items]
    repeated = sorted({repr(item) for i, item in enumerate(checked) if item in checked[:i]})
    require(not repeated, f"--{option} must name each value once; repeated {', '.join(repeated)}")
    return checked


def checked_as(option, check, *args):
    """``check(*args)`` with a UsageError's message naming ``--option`` instead of the option it
    named (the item check of a single option used for a list option: --dataset for --datasets)."""
    try:
        return check(*args)
    except UsageError as error:
        message = str(error)
        named = message.split()[0] if message.startswith("--") else ""
        raise UsageError(f"--{option}{message[len(named):]}" if named else f"--{option}: {message}") from None


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
