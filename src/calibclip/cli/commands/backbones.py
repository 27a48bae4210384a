"""``calibclip backbones``: list the registered backbone families and spec forms."""
from __future__ import annotations

import argparse

from calibclip.cli.common import add_json_arg, print_json, print_table

HELP = "list backbone families and the spec strings they accept"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json_arg(parser)


def run(args: argparse.Namespace) -> int:
    from calibclip.backbones import list_backbones
    from calibclip.backbones.spec import spec_forms

    forms = {form.split(":")[0].split("[")[0]: form for form in spec_forms()}
    rows = [{"family": name, "spec": forms.get(name, name)} for name in list_backbones()]
    if args.json:
        print_json(rows)
    else:
        print_table(rows)
    return 0
