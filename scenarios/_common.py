"""What every scenario shares: connecting, the ``--address``/``--json`` flags, the result table, and
``guarded``: a mistake in what the scenario was asked is one line on stderr and exit code 2, not a traceback."""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from actors.org import OrgError, UnknownEmployee
from cluster import NotAuthorized, Runtime

__all__ = ["ScenarioError", "add_common_flags", "connect", "guarded", "machine", "print_table", "share",
           "write_json"]

USAGE = 2  # the exit code of a scenario asked for something it cannot do (as argparse's own)
Result = TypeVar("Result")


class ScenarioError(Exception):
    """What a scenario was asked for is not there or does not fit; the message names what is wrong."""


# the project's own errors about what it was given (a credential the namespace does not know, too)
REFUSED = (ScenarioError, OrgError, UnknownEmployee, NotAuthorized)


def guarded(main: Callable[[list[str] | None], Result]) -> Callable[[list[str] | None], Result]:
    """``main`` with the project's own errors about its input turned into one line on stderr, naming the
    scenario and what is wrong, and ``SystemExit(2)``; any other error stays a traceback (it is a bug)."""
    spec = getattr(main, "__globals__", {}).get("__spec__")  # run with -m, the module is __main__; its spec knows
    name = (spec.name if spec else main.__module__).rpartition(".")[2]

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> Result:
        try:
            return main(argv)
        except REFUSED as error:
            print(f"{name}: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
            raise SystemExit(USAGE) from None

    return run


def share(text: str) -> float:
    """An argparse type: a fraction from 0 to 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share from 0 to 1")
    return value


def seconds(text: str) -> float:
    """An argparse type: a number of seconds above 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a number of seconds above 0")
    return value


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join (default: RAY_ADDRESS, a local `ray start`, else start one)")
    parser.add_argument("--namespace", default=None, help="bus namespace (default: a fresh one per run)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the figures to this file")
    parser.add_argument("--shards", type=int, default=1, help="bus shards (actors the bus is split into)")


def connect(args: argparse.Namespace, prefix: str, state: str | None = None) -> Runtime:
    """``state``: where agent state goes (a directory or a database URL), None for memory."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    namespace = args.namespace or f"{prefix}-{int(time.time())}-{os.getpid()}"
    return Runtime.connect(namespace=namespace, address=args.address, state=state, shards=args.shards,
                           log_to_driver=False)


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def print_table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    cells = [tuple(_cell(v) for v in row) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print("  ".join(value.rjust(width) if i else value.ljust(width) for i, (value, width)
                        in enumerate(zip(row, widths, strict=True))))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    sys.stdout.flush()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def write_json(path: str | None, figures: dict[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(figures, indent=2, default=str))
        print(f"wrote {path}")
