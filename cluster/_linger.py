"""Lingering: answers that ride back on the reply of the Ray call that carried their call.

On this machine each leg of a send costs about as much whether it is a Ray call or the reply to one
(per-process timestamps of a driver's send at idle, 2026-12-04 23:00 UTC: 0.53-0.67 ms a call, 0.41-0.53 ms a
reply), and the reply of a call already made comes back anyway: an answer that rides in it saves the call it
would take otherwise (and that call's work on both sides). So when a batch is a single call (its link was
idle: ``lone_call``), its receiver waits a little for that call's answer and returns it in its reply instead
of sending it as a call of its own: a host for its agent's answer (``Host.deliver``), the bus for the answer
of a sender's call (``Bus.route``). A receiver waits at most its linger, then replies
with what it has; an answer that comes later goes its usual way. The bus stops waiting for a call's answer as
soon as the call's host replies without it (``release``): the handler is a slow one, and the sender's way to
the bus is held while the bus waits.

An answer is caught only while nothing sent before it to the same place is still on its way there (the
outbox it would have gone through is idle): it never overtakes a message that left before it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from ._wire import Answer, Call, Wire

__all__ = ["Lingering", "lone_call"]


def lone_call(batch: list[Wire]) -> list[str]:
    """The id of the call a batch holds if that is all it holds: the receiver waits for its answer."""
    return [batch[0].id] if len(batch) == 1 and type(batch[0]) is Call else []


class _Catch:
    __slots__ = ("answers", "call_ids", "caller", "done", "expected")

    def __init__(self, call_ids: list[str], caller: str | None, done: asyncio.Future) -> None:
        self.call_ids = call_ids
        self.caller = caller
        self.expected = len(call_ids)
        self.answers: list[Answer] = []
        self.done = done

    def take(self, answer: Answer) -> None:
        self.answers.append(answer)
        self._maybe_done()

    def release(self) -> None:
        self.expected -= 1
        self._maybe_done()

    def _maybe_done(self) -> None:
        if len(self.answers) >= self.expected and not self.done.done():
            self.done.set_result(None)


class Lingering:
    """The calls whose answers a receiver is waiting for, to return them in its reply."""

    __slots__ = ("_catches",)

    def __init__(self) -> None:
        self._catches: dict[str, _Catch] = {}  # call id → the reply waiting for its answer

    def expect(self, call_ids: Iterable[str], caller: str | None = None) -> _Catch | None:
        """Wait for these calls' answers (before the calls are handed on: an answer may come at once); with
        ``caller``, only for answers that go to that caller."""
        ids = list(call_ids)
        if not ids:
            return None
        catch = _Catch(ids, caller, asyncio.get_running_loop().create_future())
        for call_id in ids:
            self._catches[call_id] = catch
        return catch

    def catch(self, answer: Answer) -> bool:
        """Take ``answer`` for a reply waiting for it: True if one was."""
        catch = self._catches.get(answer.call_id)
        if catch is None or catch.caller not in (None, answer.caller):
            return False
        del self._catches[answer.call_id]
        catch.take(answer)
        return True

    def release(self, call_id: str) -> None:
        """Stop waiting for this call's answer: it will come late (its host replied without it)."""
        catch = self._catches.pop(call_id, None)
        if catch is not None:
            catch.release()

    async def answers(self, catch: _Catch | None, seconds: float) -> list[Answer]:
        """The answers caught within ``seconds`` (all of them, as soon as they are in); the rest go their way."""
        if catch is None:
            return []
        timer = asyncio.get_running_loop().call_later(seconds, _stop, catch.done)
        try:
            await catch.done
        finally:
            timer.cancel()
            for call_id in catch.call_ids:
                if self._catches.get(call_id) is catch:  # a copy of the call may be waited for by a later reply
                    del self._catches[call_id]
        return catch.answers

    def __len__(self) -> int:
        return len(self._catches)


def _stop(done: asyncio.Future) -> None:
    if not done.done():
        done.set_result(None)
