"""``calibclip`` entry point: a table of subcommands, one module each.

Each command module defines ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int`` and imports heavy libraries inside ``run`` only, so
``calibclip --help`` is instant. Library errors become one line and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Sequence

from calibclip import __version__

# subcommand name -> module under calibclip.cli.commands
COMMANDS: dict[str, str] = {
    "backbones": "backbones",
    "encode": "encode",
    "synth": "synth",
    "convert": "convert",
    "train": "train",
    "heldout": "heldout",
    "diagnose": "diagnose",
    "rewrite": "rewrite",
    "llm": "llm",
    "evaluate": "evaluate",
    "batch-evaluate": "batch_evaluate",
    "query": "query",
    "index": "index",
    "search": "search",
    "serve": "serve",
    "demo": "demo",
    "bench": "bench",
    "export-qdrant": "export_qdrant",
}


def build_parser(commands: dict[str, str] = COMMANDS, prog: str = "calibclip") -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered command."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Calibrated (CalibCLIP) and composite (CsdCLIP) text-to-image retrieval.")
    parser.add_argument("--version", action="version", version=f"calibclip {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in commands.items():
        module = importlib.import_module(f"calibclip.cli.commands.{module_name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def run_command(run, args: argparse.Namespace) -> int:
    """Run a parsed command; library errors → one line on stderr and their exit code."""
    from calibclip.errors import CalibclipError

    try:
        return int(run(args) or 0)
    except CalibclipError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError, ImportError) as exc:
        if os.environ.get("CALIBCLIP_DEBUG"):
            raise
        print(f"error: {type(exc).__name__}: {' '.join(str(exc).split())} "
              "(set CALIBCLIP_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None, commands: dict[str, str] = COMMANDS, prog: str = "calibclip") -> int:
    parser = build_parser(commands, prog)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    return run_command(args._run, args)


if __name__ == "__main__":
    sys.exit(main())
