"""Argument and output helpers shared by the command modules (the only place that prints)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, NoReturn, Sequence


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where to run the model (default: auto = cuda if available)")


def add_threads_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for torch (default: 0 = torch's choice; 1 on a busy machine)")


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's CPU threads from ``--threads`` (0 leaves torch's choice)."""
    if getattr(args, "threads", 0) > 0:
        import torch

        torch.set_num_threads(args.threads)


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")


def add_backbone_arg(parser: argparse.ArgumentParser, default: str = "tiny") -> None:
    parser.add_argument("--backbone", "-m", default=default,
                        help="backbone spec: tiny | openclip:ARCH:TAG|PATH|none | hf:DIR|HUB-ID | ... "
                             f"(default: {default})")


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False, default=_jsonable)
    sys.stdout.write("\n")


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses
        return dataclasses.asdict(obj)
    return str(obj)


def format_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Plain aligned table: numeric columns right-aligned, text left-aligned."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[format_cell(row.get(col, "")) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]

    numeric = [all(isinstance(row.get(col), (int, float)) for row in rows) for col in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, title: str | None = None) -> None:
    if title:
        print(title)
    print(format_table(rows, columns))


def print_summary(summary: dict[str, Any], as_json: bool = False) -> None:
    """A flat result dict as JSON, or as ``key: value`` lines."""
    if as_json:
        print_json(summary)
        return
    for key, value in summary.items():
        print(f"{key}: {value}")


def run_script(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s code; a calibclip error becomes one line on stderr and its exit code (scripts/)."""
    from calibclip.errors import CalibclipError

    try:
        code = main()
    except CalibclipError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        code = exc.exit_code
    sys.exit(code)
