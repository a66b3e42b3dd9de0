"""Run AutoGen's own core samples on raybus, on a simulated cluster of its own.

The samples are the runnable examples in the docstrings of the installed autogen_core package, read from
it and run unchanged but for the line that constructs the runtime (``SingleThreadedAgentRuntime()`` →
``RaybusAgentRuntime()``). Their prints come from wherever their agents run (a raybus host prints with
Ray's ``(Host pid=...)`` prefix). Afterwards: which agents ran, and on which node.

    python -m scenarios.autogen_sample [--sample all|instantiation|closure|send|publish] [--nodes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import re
import shutil
import sys
import textwrap
import types
from pathlib import Path
from typing import Any, NoReturn

from ._simulated import schedulable, start_cluster

REPO = str(Path(__file__).resolve().parent.parent)
RUNTIME_LINE = re.compile(r"^(\s*)runtime = SingleThreadedAgentRuntime\(\)\s*$", re.MULTILINE)
# sample name -> (where its docstring is, which python code block of it)
SAMPLES = {
    "instantiation": ("AgentInstantiationContext", 0),
    "closure": ("ClosureAgent.register_closure", 0),
    "send": ("SingleThreadedAgentRuntime", 0),
    "publish": ("SingleThreadedAgentRuntime", 1),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one clear line, exit code 2
        self.exit(2, f"autogen_sample: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(description="AutoGen's own core samples, unchanged but for the runtime, on a raybus cluster")
    p.add_argument("--sample", default="all", choices=["all", *SAMPLES], help="which sample (default: all)")
    p.add_argument("--nodes", type=int, default=2, help="nodes of the simulated cluster (default 2)")
    return p


def code_blocks(doc: str) -> list[str]:
    """The ``.. code-block:: python`` blocks of a docstring, dedented."""
    blocks, lines, i = [], doc.splitlines(), 0
    while i < len(lines):
        directive = lines[i]
        i += 1
        if directive.strip() != ".. code-block:: python":
            continue
        indent = len(directive) - len(directive.lstrip())
        body = []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        blocks.append(textwrap.dedent("\n".join(body)).strip() + "\n")
    return blocks


def sample_code(name: str) -> str:
    """The sample's code as autogen_core ships it, with the one runtime line changed."""
    import autogen_core

    where, index = SAMPLES[name]
    obj: Any = autogen_core
    for part in where.split("."):
        obj = getattr(obj, part)
    code = code_blocks(inspect.getdoc(obj) or "")[index]
    changed, count = RUNTIME_LINE.subn(r"\1runtime = RaybusAgentRuntime()", code)
    if count != 1:
        raise RuntimeError(f"sample {name!r}: expected one 'runtime = SingleThreadedAgentRuntime()' line, "
                           f"found {count}")
    return changed


def run_sample(name: str) -> Any:
    """Execute the sample as a module of its own (its classes travel to the hosts by value)."""
    from ray import cloudpickle

    from cluster.autogen import RaybusAgentRuntime

    made: list[RaybusAgentRuntime] = []

    class Recorded(RaybusAgentRuntime):  # the sample's runtime, kept to report where its agents ran
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            made.append(self)

    module = types.ModuleType(f"autogen_sample_{name}")
    sys.modules[module.__name__] = module
    cloudpickle.register_pickle_by_value(module)
    module.RaybusAgentRuntime = Recorded  # type: ignore[attr-defined]
    exec(compile(sample_code(name), f"<autogen_core sample {name}>", "exec"), module.__dict__)
    return made[0]


def where_agents_ran(runtime: Any) -> list[tuple[str, str]]:
    """(agent, node) for every agent of the sample: raybus hosts report their node."""
    stats = runtime.raybus.stats()["hosts"]
    found = []
    for endpoint, figures in sorted(stats.items()):
        for agent in _agents_of(runtime, endpoint):
            found.append((agent, str(figures.get("node", "?"))[:12]))
    return found


def _agents_of(runtime: Any, endpoint: str) -> list[str]:
    import ray

    host = ray.get_actor(f"raybus.host.{endpoint}", namespace=runtime.namespace)
    return sorted(ray.get(host.agents.remote()))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.nodes < 1:
        parser().error(f"--nodes {args.nodes}: a cluster needs at least one node")
    try:
        import autogen_core  # noqa: F401
    except ImportError:
        print("autogen_sample: autogen-core is not installed: pip install -e '.[autogen]'", file=sys.stderr)
        return 2
    import ray

    os.environ["RAY_DEDUP_LOGS"] = "0"  # two samples print the same line: show both
    cluster, tmp, _ = start_cluster(args.nodes)
    try:
        ray.init(address=cluster.address, runtime_env={"env_vars": {"PYTHONPATH": REPO}}, log_to_driver=True)
        schedulable([node.node_id for node in cluster.worker_nodes])  # hosts spread over every node
        names = list(SAMPLES) if args.sample == "all" else [args.sample]
        nodes_used: set[str] = set()
        for name in names:
            where, index = SAMPLES[name]
            print(f"--- sample {name}: autogen_core {where}, example {index + 1}, on raybus ---", flush=True)
            runtime = run_sample(name)
            ran = where_agents_ran(runtime)
            nodes_used |= {node for _, node in ran}
            print(f"sample {name}: ok; agents: " + ", ".join(f"{agent} on node {node}" for agent, node in ran),
                  flush=True)
            asyncio.run(runtime.close())
        print(f"all {len(names)} sample(s) ran; raybus hosts on {len(nodes_used)} of {args.nodes} node(s)")
        return 0
    finally:
        ray.shutdown()
        cluster.shutdown()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
