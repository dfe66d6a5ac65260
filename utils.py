"""The command line of the seven scripts: ``script.py COMMAND [--option VALUE | --flag] ...``,
parsed strictly (unknown options name the closest valid one), --help generated from each command's
docstring, and one way to end: a result, one error line with exit 2, or an interrupt with exit 130.

The documented entry point for one's own scripts in the checkout; the code is ``kinks.cli``, which
the package and the seven scripts use, so that an installed kinks needs no top-level module of
this name.
"""
from kinks.cli import (
    INTERRUPTED, command_help, command_options, default_text, docstring_sections, is_boolean,
    options_documented_as, parse_command_line, run_cli, script_help)

__all__ = ["INTERRUPTED", "command_help", "command_options", "default_text", "docstring_sections", "is_boolean",
           "options_documented_as", "parse_command_line", "run_cli", "script_help"]
