"""The command line of the seven scripts: ``script.py COMMAND [--option VALUE | --flag] ...``,
parsed strictly (unknown options name the closest valid one), --help generated from each command's
docstring, and one way to end: a result, one error line with exit 2, or an interrupt with exit 130.
Each script's ``main`` hands its ``COMMANDS`` to ``run_cli``; ``utils.py`` in the repository root
re-exports this module for scripts of one's own."""
import re
import sys
import textwrap
from pathlib import Path

from kinks.checks import UsageError, require, warn

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
# joblib's resource tracker, a process of its own that writes on this one's stderr, warns at its end
# about the semaphores of the workers killed after Ctrl-C or SIGTERM (it removes them all the same),
# after INTERRUPTED, at a time of its own; a -W option for the processes joblib starts keeps it quiet
QUIET_TRACKER = "ignore:resource_tracker:UserWarning:joblib.externals.loky.backend.resource_tracker"


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
            warnings.append(f"--{option} is deprecated for {name}; use --{renames[option]}")
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
            require(option not in FOLDER_OPTIONS or text.strip(), f"--{option} must name a folder; got ''")
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


def options_documented_as(source, *names):
    """Decorator: a command's Args section gains ``source``'s entries for the options ``names``,
    word for word, so that options two commands share are documented once."""
    _, entries = docstring_sections(source)

    def decorate(function):
        function.__doc__ = (function.__doc__ or "").rstrip() + "".join(
            f"\n        {name}: {entries[name]}" for name in names) + "\n    "
        return function

    return decorate


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


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, a batch system ending a job): handled as Ctrl-C is, exit 143."""


def raise_terminated(signum, frame):
    raise Terminated


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
    Ctrl-C prints 'interrupted; rerun the same command to resume' (or the message of the
    KeyboardInterrupt, where a command raises its own: one that resumes nothing), stops the worker pools and
    exits 130, SIGTERM the same with exit 143 (without it, the worker processes would outlive the
    command, at work on the chunks already sent to them); a reader that closes the output early
    (``--help | head``) ends it quietly."""
    import os
    import signal

    script = Path(sys.argv[0]).name
    signal.signal(signal.SIGTERM, raise_terminated)
    if QUIET_TRACKER not in sys.warnoptions:   # read by the processes started from now on, not by this one
        sys.warnoptions.append(QUIET_TRACKER)
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
            warn(warning)
        invocation.function(**invocation.kwargs)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as interrupt:
        for number in (signal.SIGINT, signal.SIGTERM):   # a second one must not break the clean-up
            signal.signal(number, signal.SIG_IGN)
        stop_after_interrupt()
        print(str(interrupt) or INTERRUPTED, file=sys.stderr)   # a command that keeps nothing says so
        sys.exit(143 if isinstance(interrupt, Terminated) else 130)
    except BrokenPipeError:  # stdout's reader is gone: no traceback, and none at exit's flush either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
