"""A Ray head node of a test's own, for the tests that need `ray start` rather than the session's `ray.init`:
its own temp dir, its own ports, its own process group. Stopped by killing that group, never by `ray stop`
(which would stop every other Ray on this machine)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
# every port of our own: another Ray on this machine (the test session's, other people's) holds the defaults
OWN_PORTS = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
             "runtime-env-agent-port", "ray-client-server-port", "node-manager-port", "object-manager-port")
# Ray gives a starting node 30 s to register with its GCS (hard-coded in ray._private.node), then gives up
# saying this. Heads took 19-33 s to start here with the machine's load average at 16-20 from other work
# (with TLS or without), so a head Ray gave up on that way is started once more.
RAY_GAVE_UP = "The current node timed out during startup"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Head:
    """A running `ray start --head --block` and where to find it."""

    process: subprocess.Popen
    port: int  # the GCS port a driver joins: ``--address <node ip>:<port>``
    dashboard_port: int
    temp_dir: Path

    @property
    def output(self) -> Path:
        return self.temp_dir / "head.out"

    def gcs_errors(self) -> str:
        """What the head's GCS server wrote on stderr (gRPC logs refused handshakes there)."""
        return (self.temp_dir / "session_latest" / "logs" / "gcs_server.err").read_text(errors="replace")

    def started(self, timeout: float) -> bool:
        """Whether Ray says it started within ``timeout``; False as soon as `ray start` has exited."""
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in self.output.read_text(errors="replace"):
            if time.monotonic() > deadline or self.process.poll() is not None:
                return False
            time.sleep(0.5)
        return True

    def kill(self) -> None:
        """Kill the head and everything it started (its whole process group) at once, and reap it. Nothing of
        a test's head is kept, and its graceful stop is slow: after a TERM the GCS server took ~35 s to end."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Kill the head and remove its temp dir, with whatever the test put there."""
        self.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_head(temp_dir: Path, env: dict[str, str], *flags: str, timeout: float = 90.0) -> Head:
    """`ray start --head --block` in a new session (so in a process group of its own), two CPUs, every port
    its own, output in ``temp_dir/head.out``; returns once Ray says it started. ``flags`` are more
    `ray start` flags. On failure the head is stopped (its temp dir removed) and the test fails with its output."""
    for _ in range(2):
        head = _launch(temp_dir, env, flags)
        if head.started(timeout):
            return head
        head.kill()
        output = head.output.read_text(errors="replace")
        if RAY_GAVE_UP not in output:
            break
    shutil.rmtree(temp_dir, ignore_errors=True)
    raise AssertionError(f"the head node did not come up:\n{output[-3000:]}")


def _launch(temp_dir: Path, env: dict[str, str], flags: tuple[str, ...]) -> Head:
    port, dashboard_port = free_port(), free_port()
    with (temp_dir / "head.out").open("wb") as output:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [RAY, "start", "--head", "--block", f"--temp-dir={temp_dir}", f"--port={port}",
             f"--dashboard-port={dashboard_port}", "--num-cpus=2",
             *(f"--{name}={free_port()}" for name in OWN_PORTS), *flags],
            env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    return Head(process, port, dashboard_port, temp_dir)
