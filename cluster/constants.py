"""Names and tunables of the runtime, in one place (as Ray Serve keeps its own in ``constants.py``).

Public: scenarios and operators find the bus and the hosts by these names."""

from __future__ import annotations

import zlib

__all__ = [
    "ANSWER_LINGER", "BUS_NAME", "BUS_RETRY_DELAY", "CLIENT_PREFIX", "CREDENTIAL_ENV", "DEFAULT_TIMEOUT",
    "DEFAULT_WINDOW", "DIRECT_CALLS", "DIRECT_HANDLES", "DIRECT_RETRY", "FIND_WAIT", "FINISHED", "GIVE_UP_AFTER",
    "HOMES", "HOST_PREFIX", "HOST_RETIRE_AFTER", "IDLE_AFTER", "IDLE_TICK", "INSPECT_BATCH", "KEEP_AGE", "KEEP_TICK",
    "KEPT_AGE", "MAX_BATCH", "MOVE_DECAY", "MOVE_FORGET", "MOVE_LEAST", "MOVE_LIMIT", "MOVE_REST", "MOVE_RETRY",
    "MOVE_TICK", "MOVE_WAIT", "RETRY_DELAY", "ROUTE_LINGER", "SEEN", "bus_name", "client_name", "host_actor_name",
    "session_of", "shard_of",
]

BUS_NAME = "raybus.bus"  # shard 0's actor name; shard n is "raybus.bus.n"
HOST_PREFIX = "raybus.host."  # a host's actor name is this and its endpoint
CREDENTIAL_ENV = "RAYBUS_CREDENTIAL"  # a driver's credential, when Runtime.connect is given none (ray job submit)
CLIENT_PREFIX = "client."  # a driver's endpoint name starts with this: client.<session>.<n>

DEFAULT_WINDOW = 1000  # calls in flight from one sender to one host: one window already keeps a host busy
DEFAULT_TIMEOUT = 60.0  # seconds a call waits for its answer unless told otherwise
# Messages in one Ray call of an outbox. Smaller than a wave: a closed loop of 1,000 senders (bus_bench's hot key, a
# driver's requests) otherwise moved as one batch of 1,000 through every process in turn — driver, bus, host and
# back — each idle while another worked (the machine 43% idle); in two batches the stages overlap. Hot key from the
# driver 12,341-12,643 round trips/s at 2,000, 17,681-24,221 at 500 (bus_bench, turns, 2026-12-05 22:22 UTC).
MAX_BATCH = 500
# How long the receiver of a lone call waits for its answer to return it in its reply (_linger.py): a host for its
# agent's answer; the bus for the answer of a host's call, which comes from another host (a call and a reply more).
ANSWER_LINGER = 0.002
ROUTE_LINGER = 0.003
# Calls between agents of two hosts go host to host (_direct.py) while at most this many are in flight from one host
# and waiting at one; past that they go through the bus, whose batches carry many calls in one Ray call. A host
# keeps the actor handles of the last DIRECT_HANDLES hosts it called; calls to an agent whose host did not take one
# (it moved, or that host was busy) go through the bus for DIRECT_RETRY seconds.
DIRECT_CALLS = 32
DIRECT_HANDLES = 1024
DIRECT_RETRY = 10.0
INSPECT_BATCH = 1000  # agents asked in one bus call by Runtime.inspect_all: each is activated if it is not

BUS_RETRY_DELAY = 0.5  # seconds between tries while a bus shard restarts
KEEP_TICK = 1.0  # seconds between two looks at what a bus shard gave its hosts and has not heard back of
KEEP_AGE = 2.0  # seconds a delivery may go unacknowledged before the bus asks its host whether it has it
KEPT_AGE = 10.0  # seconds a kept publish may go unreported before its host asks the bus whether it has it
GIVE_UP_AFTER = 120.0  # seconds after which a message without a deadline is dead-lettered, not sent again
RETRY_DELAY = 0.5  # seconds before a failed state write is tried again (its answers wait for it)

FINISHED = 100_000  # message ids a host remembers it finished, to tell a bus that asks (it need not send them)
SEEN = 1024  # message ids (with their answers) an agent remembers, so a copy is dropped or answered again
HOMES = 16_384  # agents whose placement's endpoint a routing table remembers (emptied when full)

# A durable agent with no message for this long, and nothing in hand, is deactivated: state saved, activation
# dropped; its next message activates it again from the store. Orleans collects after 15 minutes; an agent
# here costs a few kilobytes, and a host holding every agent it ever saw is what this bounds.
IDLE_AFTER = 300.0  # seconds; per type: Runtime.register(..., idle_after=...)
IDLE_TICK = 1.0  # seconds between two looks for idle agents (shorter when a type's idle time is)

# Moves (_moves.py, _locality.py): every MOVE_TICK the bus adds up the calls between agents that the hosts counted
# (what it knew before weighs MOVE_DECAY as much; a pair below MOVE_FORGET calls is forgotten) and moves an agent
# to its group's host when MOVE_LEAST of the group's calls are made elsewhere; MOVE_LIMIT moves at a time, an agent
# that moved rests MOVE_REST seconds (one that stayed, MOVE_RETRY), and a host hands an agent over once its serial
# handler under way is over and it holds nothing but its queue, or keeps it if that takes MOVE_WAIT seconds or an
# interleaved handler of it is at work.
MOVE_TICK = 0.5
MOVE_DECAY = 0.8
MOVE_FORGET = 0.5
MOVE_LEAST = 8.0
MOVE_LIMIT = 64
MOVE_REST = 10.0
MOVE_RETRY = 1.0
MOVE_WAIT = 1.0
# A restarted bus that does not know which host has an agent (its home host says where it went, that host does not
# have it, and some host did not answer) keeps its messages until every host that did not answer has said what it
# has, or for this long; then the host it went to adopts it.
FIND_WAIT = 10.0
# A host the runtime placed agents on that has been idle (no agent, nothing held) at every look for this long is
# stopped: an idle Ray actor costs 7 ms of CPU a second and its memory. Its next message starts it anew.
HOST_RETIRE_AFTER = 2.0


def bus_name(shard: int) -> str:
    return BUS_NAME if shard == 0 else f"{BUS_NAME}.{shard}"


def host_actor_name(endpoint: str) -> str:
    return f"{HOST_PREFIX}{endpoint}"


def client_name(session: str, n: int) -> str:
    """A driver's endpoint name: its connection (``session``, bound to its principal) and which event loop
    of that connection it is (a new loop is a new endpoint; the principal stays)."""
    return f"{CLIENT_PREFIX}{session}.{n}"


def session_of(endpoint: str) -> str:
    return endpoint.split(".", 2)[1]


def shard_of(key: str, shards: int) -> int:
    """The bus shard of a recipient or topic. crc32, not hash(): every process must agree, and str hashes
    are salted per process."""
    return zlib.crc32(key.encode()) % shards if shards > 1 else 0
