"""Bus: the named, detached Ray actor that owns the routing table and routes every message that
crosses processes. Deliveries to one host are coalesced into one Ray call per flush; a publish sends
one copy per host, naming that host's recipients."""

from __future__ import annotations

import gc
import uuid
from collections import Counter, deque
from typing import Any

import ray

from ._authority import Authority
from ._control import ControlPlane
from ._drivers import DriverQueues
from ._errors import RaybusError, Unbound, error_payload
from ._inspection import BusInspection
from ._linger import Lingering, lone_call
from ._links import HostLinks
from ._messages import DEAD_LETTER_TYPE, DEAD_LETTERS, dead_letter
from ._metrics import MetricsExporter, process_figures
from ._moves import Mover
from ._relearn import Relearning
from ._router import Router
from ._routing import RoutingTable
from ._self_calls import unwrapped_self_calls
from ._trace import TraceLog
from ._wire import Answer, Call, Copy, Done, Moved, Publish, Stayed, new_message_id, pack, unpack
from .constants import CLIENT_PREFIX, DEFAULT_WINDOW, HOST_PREFIX, ROUTE_LINGER, bus_name

__all__ = ["Bus"]

class Bus(BusInspection):
    def __init__(self, namespace: str, state: str | None = None, window: int = DEFAULT_WINDOW,
                 shard: int = 0, shards: int = 1) -> None:
        unwrapped_self_calls(self)
        self.namespace = namespace
        self.shard, self.shards = shard, shards
        self.incarnation = uuid.uuid4().hex  # a driver that sees it change knows what this shard held is gone
        self.drivers = DriverQueues()
        self.counts: Counter[str] = Counter()
        self.window = window
        self.lingering = Lingering()  # lone calls whose answers go back in the reply of their ``route``
        self.trace = TraceLog(bus_name(shard))
        self.links = HostLinks(namespace, state, window, shards, self.counts, self._give_up,
                               lambda endpoint, answer: self._take_answer(endpoint, answer, False), self.lingering,
                               self.trace)
        restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self.control = ControlPlane(namespace, shard, shards, state, self.counts,
                                    lambda: self.links.actors.hosts.values(), restarted)
        self.gate = self.control.gate
        self.mover = Mover(lambda: self.control.table, self.links, self.counts, planning=shards == 1)
        self.links.whereabouts = self.mover  # what it gives a host again goes where the agent lives now
        self.authority = Authority(self.mover.holds, self.counts)
        self.dead_letters: deque[dict[str, Any]] = deque(maxlen=1000)
        self.router = Router(lambda: self.control.table, self.trace)
        self.metrics = MetricsExporter(namespace, "bus" if shard == 0 else f"bus.{shard}", lambda: self.counts)
        self.cpu_at_start = process_figures()["cpu_s"]
        control = self.control
        self._operations = {  # the control plane, the admin's alone (``control``): what each does, and how
            "register": ("register agent types", control.register),
            "register_messages": ("register message types", control.register_messages),
            "intercept": ("add interceptors", control.intercept), "subscribe": ("subscribe", control.subscribe),
            "unsubscribe": ("unsubscribe", control.unsubscribe), "grant": ("grant credentials", control.grant),
            "revoke": ("revoke credentials", control.revoke), "inspect": ("inspect agents", self._inspect),
            "trace": ("read traces", self._trace_events), "dead_letters": ("read dead letters", self._dead_letters),
            "move": ("move agents", self._move),
            "destroy": ("destroy the namespace", self._destroy_hosts),
        }
        self.relearning: Relearning | None = None  # once restarted: where agents were moved, from the hosts
        if restarted:
            self._restore()
        gc.collect()  # what the process holds by now lives as long as it: the cyclic collector need not scan it
        gc.freeze()  # (as Ray Serve does in its replicas and proxies)

    @property
    def table(self) -> RoutingTable:
        return self.control.table

    def _restore(self) -> None:
        """Come back as before a crash (the control plane reads back what it keeps): every host hears that
        what it had sent through this shard is gone with the old one; and before anything is routed, each says
        which agents were moved to it (``Relearning``), which the table of a new shard does not know."""
        endpoints = [actor["name"][len(HOST_PREFIX):] for actor in ray.util.list_named_actors(all_namespaces=True)
                     if actor["namespace"] == self.namespace and actor["name"].startswith(HOST_PREFIX)]
        self.relearning = Relearning(endpoints, lambda: self.control.table, self.links, self.mover, self.counts,
                                     self.shard)
        self.counts["restarts"] += 1

    async def _relearned(self) -> None:
        """Callers check ``relearning`` first: ``route`` is the hot path."""
        try:
            await self.relearning.wait()
        finally:
            self.relearning = None

    # --- the control plane ----------------------------------------------------------------------
    async def control(self, origin: str, operation: str, *args: Any) -> Any:
        """Every change to the namespace (registry, subscriptions, interceptors, credentials), every look
        inside it (agents' inspectable methods, traces, dead letters) and its destruction: for a connection of
        its admin only (``NotAuthorized`` otherwise, counted ``control_refused``). Registry and credential
        changes go to shard 0."""
        what, operate = self._operations[operation]
        self.gate.require_admin(origin, what)
        if self.relearning is not None:
            await self._relearned()
        return await operate(*args)

    async def join(self, session: str, credential: str | None) -> tuple[str, str | None]:
        return self.control.join(session, credential)

    async def bind(self, session: str, credential: str | None) -> str:
        return await self.control.bind(session, credential)

    async def verify(self, credential: str | None) -> str | None:
        """Shard 0: the principal a credential names, or None."""
        return self.control.credentials.principal_of(credential)

    async def forget(self, principal: str) -> None:
        self.gate.forget(principal)

    async def get_table(self) -> RoutingTable:
        return self.table

    async def settings(self) -> tuple[RoutingTable, int, int]:
        """What a driver needs to join: the table, the send window and the number of shards."""
        return self.table, self.window, self.shards

    async def update_table(self, table: RoutingTable) -> None:
        await self.control.update_table(table)

    # --- routing ------------------------------------------------------------------------------
    async def route(self, origin: str, batch: bytes) -> tuple[str, bytes]:
        """Accept a batch from a host or a driver; returns this shard's incarnation once the batch is routed,
        never once it is handled. A driver's batch is taken only from a connection bound here (else ``Unbound``:
        the driver binds it again with its credential and sends the batch again). A batch that is one call waits up
        to ``ROUTE_LINGER`` for that call's answer, to return it too."""
        self.metrics.start()
        self.mover.begin()
        if self.relearning is not None:  # restarted: where agents were moved comes first
            await self._relearned()
        from_client = origin.startswith(CLIENT_PREFIX)
        principal = None
        if from_client:
            principal = self.gate.principal(origin)
            if principal is None:
                raise Unbound(f"namespace {self.namespace!r}: {origin} is not bound at {bus_name(self.shard)}")
            self.drivers.meet(origin)
        messages = unpack(batch)
        catch = self.lingering.expect(lone_call(messages), origin)
        for message in messages:
            match message:
                case Answer():
                    self._take_answer(origin, message, from_client)
                case Done(id=message_id, recipients=recipients):
                    self.links.done(origin, message_id, recipients)
                case Moved():
                    self.mover.moved(origin, message)
                case Stayed():
                    self.mover.stayed(origin, message)
                case Call() | Publish():
                    if (refused := self.authority.refusal(origin, message, principal)) is not None:
                        self._reject(message, refused)
                    elif type(message) is Call:
                        self._route_call(message)
                    else:
                        self._route_publish(message, None if from_client else origin)
        return self.incarnation, pack(await self.lingering.answers(catch, ROUTE_LINGER))

    def _take_answer(self, origin: str, answer: Answer, from_client: bool) -> None:
        """An answer acknowledges the call it answers; a forged one goes to the dead letters (``Authority``)."""
        genuine = self.authority.answer(origin, answer, self.links.done(origin, answer.call_id), from_client)
        if genuine is None:
            self._dead_letter(answer, "NotAuthorized", f"{origin} may not answer {answer.call_id} as {answer.sender!r}")
            return
        self._route_answer(genuine)

    def _route_call(self, call: Call) -> None:
        try:
            endpoint, call = self.router.call(call)
        except RaybusError as exc:
            self._reject(call, exc)
            return
        self.counts["sends"] += 1
        if self.mover.moving and self.mover.park(call):
            return
        self.links.deliver(endpoint, call)

    def _route_publish(self, publish: Publish, publisher: str | None = None) -> None:
        """``publisher``: the host that keeps this publish until every copy is handled (and hears when)."""
        try:
            publish, by_endpoint, unknown = self.router.publish(publish)
        except RaybusError as exc:
            self._reject(publish, exc)
            self.links.publishes.track(publisher, publish)
            self.links.publishes.settle(publish.id)  # no copy: its publisher stops keeping it
            return
        self.counts["publishes"] += 1
        if publish.type_name == DEAD_LETTER_TYPE and publish.topic == DEAD_LETTERS:
            self._record_dead_letter(publish.payload)
        for error in unknown:
            self._dead_letter(publish, "UnknownAgentType", str(error))
        self.counts["publish_deliveries"] += sum(len(recipients) for recipients in by_endpoint.values())
        self.links.publishes.track(publisher, publish)
        for endpoint, recipients in by_endpoint.items():
            staying = self.mover.park_copies(publish, recipients) if self.mover.moving else recipients
            if len(staying) < len(recipients):
                self.links.publishes.parked(publish.id, len(recipients) - len(staying))
            if staying:
                self.links.deliver(endpoint, publish.copy(tuple(staying)))
        self.links.publishes.settle(publish.id)

    def _route_answer(self, answer: Answer) -> None:
        caller = answer.caller
        self.counts["answers"] += 1
        if self.lingering and self._nothing_on_the_way(caller) and self.lingering.catch(answer):
            self.counts["answers_in_replies"] += 1  # the caller's route waits for it: it goes back in that reply
            return
        if caller.startswith(CLIENT_PREFIX):
            # a shard that never restarted met every driver at its first send
            if not self.drivers.put(caller, answer, unknown_too=bool(self.counts["restarts"])):
                self._dead_letter(answer, "unknown_client", f"no driver {caller} is connected")
        elif caller:
            self.links.outbox(caller).put(answer)
        else:
            self._dead_letter(answer, "no_origin", "an answer with no caller to go to")

    def _nothing_on_the_way(self, caller: str) -> bool:
        """Nothing this shard gave for ``caller`` before is still waiting or on its way: an answer in a reply
        overtakes nothing."""
        if caller.startswith(CLIENT_PREFIX):
            return self.drivers.empty(caller)
        return self.links.idle(caller)

    def _reject(self, message: Call | Publish | Copy, error: RaybusError) -> None:
        """Refuse one message: the caller of a call hears why, and the dead-letter topic records it."""
        self._dead_letter(message, type(error).__name__, str(error))
        if type(message) is Call and message.origin:
            self._route_answer(Answer(new_message_id(), message.trace, None, message.origin, "",
                                      error_payload(error), message.id, failed=True))

    def _dead_letter(self, message: Call | Answer | Publish | Copy, reason: str, detail: str) -> None:
        if message.type_name == DEAD_LETTER_TYPE:
            self.counts["dead_letters_lost"] += 1  # a dead letter about a dead letter would loop
            return
        self._route_publish(dead_letter(message, reason, detail))

    def _record_dead_letter(self, letter: dict[str, Any]) -> None:
        self.counts["dead_letters"] += 1
        self.counts[f"dead_letters_{letter['reason']}"] += 1
        self.dead_letters.append(letter)

    async def host_up(self, endpoint: str, node: str, restarted: bool, here: list[str] = ()) -> None:
        """A host says which node it runs on and which agents were moved to it (this shard may have restarted
        and forgotten). After a crash it gets again what it had been given and not finished, then is asked again
        for a move it was asked for."""
        for agent in here:
            self.table.place(agent, endpoint)
        if self.mover.unsure:
            self.mover.heard_from(endpoint, here)
        self.links.up(endpoint, node, restarted)
        if restarted:
            self.mover.host_restarted(endpoint)

    async def moves_for(self, endpoint: str, restarted: bool = False) -> dict[str, str]:
        """For a host starting: the agents placed there that were moved away; restarted, also those moved to it
        (before anything is given to it again: its agents' calls to them stay in-process, and no message for
        one is refused as sent to the wrong host). A host started afresh has none moved to it (a host some agent
        was moved to is never retired); an agent moved to it meanwhile comes with its ``Adopt``. A restarted shard
        answers once it has relearned the moves from the other hosts (a lost node takes a host and the bus at
        once): else the host would start an agent placed on it that lives elsewhere (the constructing host
        itself does not answer the relearning; it is not waited for past ``MOVE_WAIT``)."""
        if self.relearning is not None:
            await self._relearned()
        return self.mover.moved_for(endpoint, restarted)

    async def _move(self, moves: list[tuple[str, str]]) -> list[bool]:
        """Move agents to hosts (``Runtime.move``): which moves began."""
        if self.shards > 1:
            raise RaybusError(f"namespace {self.namespace!r} has {self.shards} bus shards: agents move with one")
        return self.mover.asked(moves)

    def _give_up(self, message: Call | Answer | Copy, error: RaybusError) -> None:
        if type(message) is Call:
            self._reject(message, error)
        else:
            self._dead_letter(message, "host_unreachable", str(error))

    # --- drivers ------------------------------------------------------------------------------
    async def pull(self, client: str, wait: float = 1.0) -> tuple[str, bytes]:
        """Long poll: this shard's incarnation and a driver's answers, as soon as there are any (or none after
        ``wait``)."""
        return self.incarnation, pack(await self.drivers.pull(client, wait))

    async def disconnect(self, client: str) -> None:
        for answer in self.drivers.disconnect(client):
            self._dead_letter(answer, "unknown_client", f"driver {client} disconnected")

    # --- for the hosts -------------------------------------------------------------------------
    async def tracking(self, publish_ids: list[str]) -> set[str]:
        """Of these kept publishes, those this shard is fanning out (their publisher hears when done)."""
        return {publish_id for publish_id in publish_ids if publish_id in self.links.publishes}

    async def locate(self, agent_id: str) -> str | None:
        """For a host given a message for an agent its table says lives elsewhere: the host this shard routes it
        to now (None while it is being moved), once a restarted shard has relearned the moves."""
        if self.relearning is not None:
            await self._relearned()
        return self.mover.locate(agent_id)

    async def _destroy_hosts(self) -> None:
        """The namespace ends: its hosts, and (shard 0) its credentials — a later first driver of the same name
        is its admin again; the agents' state stays in the store."""
        self.links.destroy()
        if self.control.credentials is not None:
            self.control.credentials.forget_all()
