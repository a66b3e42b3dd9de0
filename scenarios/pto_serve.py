"""The PTO application behind its HTTP gateway (Ray Serve) and web page, in one command.

    python -m scenarios.pto_serve [--port 8000] [--address ...] [--employees 40] [--detach]

Starts or joins Ray, registers the PTO application on a bus namespace, deploys the gateway, prints the URL
and a few demo tokens, and serves until Ctrl-C (then removes both); ``--detach`` leaves them running and
returns (for ``ray job submit``). As a Serve application builder: ``serve run scenarios.pto_serve:app``
(arguments as ``key=value``: ``employees=40 secret=...``).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import threading

from ray import serve
from ray.serve import Application

from actors.org import Org
from actors.policy import GATEWAY_SERVICE
from cluster import Runtime
from gateway import GatewaySettings, Person, Tokens, gateway_app

from ._common import add_common_flags, connect, guarded
from ._pto import add_org_flags, load_org, start_app
from ._run_store import run_store

APP_NAME = "pto"


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    found.add_argument("--host", default="127.0.0.1", help="where the HTTP proxy listens (0.0.0.0 for all)")
    found.add_argument("--port", type=int, default=8000)
    found.add_argument("--replicas", type=int, default=1, help="gateway replicas")
    found.add_argument("--secret", default=os.environ.get("RAYBUS_GATEWAY_SECRET"),
                       help="signs the bearer tokens (default: RAYBUS_GATEWAY_SECRET, else a fresh random one)")
    found.add_argument("--no-demo", action="store_true", help="do not hand out tokens at /v1/demo/people")
    found.add_argument("--detach", action="store_true", help="deploy, print, and leave it running")
    add_org_flags(found, employees=40)
    add_common_flags(found)
    return found


def start(args: argparse.Namespace) -> tuple[Runtime, Org, GatewaySettings]:
    """The PTO application registered on its namespace, and the gateway's settings for it."""
    org = load_org(args)
    store = run_store(args, "pto-serve")
    rt = connect(args, "pto-serve", store.state)
    start_app(rt, org, args, store)
    settings = GatewaySettings(namespace=rt.namespace, org_json=org.model_dump_json(),
                               credential=rt.grant(GATEWAY_SERVICE),
                               secret=args.secret or secrets.token_urlsafe(32), demo=not args.no_demo)
    return rt, org, settings


def app(arguments: dict[str, str]) -> Application:
    """``serve run scenarios.pto_serve:app [key=value ...]``: the keys are pto_serve's flags, unprefixed."""
    argv = [f"--{key.replace('_', '-')}={value}" for key, value in arguments.items()]
    _, _, settings = start(parser().parse_args(argv))
    return gateway_app(settings)


def demo_tokens(org: Org, tokens: Tokens) -> list[tuple[str, str]]:
    """A few people to try: two employees of one manager, that manager, and hr of their department."""
    first = next(iter(org.employees.values()))
    mates = [e for e in org.employees.values() if e.manager == first.manager][:2]
    people = [Person("employee", e.id, e.name) for e in mates]
    people += [Person("manager", first.manager), Person("hr", first.department)]
    return [(p.subject, tokens.issue(p)) for p in people]


@guarded
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    rt, org, settings = start(args)
    serve.start(http_options={"host": args.host, "port": args.port})
    serve.run(gateway_app(settings, args.replicas), name=APP_NAME, route_prefix="/")
    url = f"http://{'127.0.0.1' if args.host == '0.0.0.0' else args.host}:{args.port}"
    print(f"PTO gateway on {url}/ (API docs {url}/docs), bus namespace {rt.namespace}, "
          f"{len(org.employees)} employees, today {org.today}")
    for subject, token in demo_tokens(org, Tokens(settings.secret, org)):
        print(f"  {subject:<16} Authorization: Bearer {token}")
    print(f"  curl -s -H 'Authorization: Bearer <token>' {url}/v1/me/balance", flush=True)
    if args.detach:
        return 0
    stop = threading.Event()
    for stopping in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell starts a background job ignoring it
        signal.signal(stopping, lambda *_: stop.set())
    try:
        print("serving; Ctrl-C stops it", flush=True)
        stop.wait()
    finally:
        serve.delete(APP_NAME)
        rt.shutdown(destroy=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
