"""What every scenario shares: connecting, the ``--address``/``--json`` flags, and the result table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from cluster import Runtime

__all__ = ["add_common_flags", "connect", "machine", "print_table", "write_json"]


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join (default: RAY_ADDRESS, a local `ray start`, else start one)")
    parser.add_argument("--namespace", default=None, help="bus namespace (default: a fresh one per run)")
    parser.add_argument("--json", dest="json_path", default=None, help="also write the figures to this file")
    parser.add_argument("--shards", type=int, default=1, help="bus shards (actors the bus is split into)")


def connect(args: argparse.Namespace, prefix: str, state_dir: str | None = None) -> Runtime:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    namespace = args.namespace or f"{prefix}-{int(time.time())}-{os.getpid()}"
    return Runtime.connect(namespace=namespace, address=args.address, state_dir=state_dir, shards=args.shards,
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
