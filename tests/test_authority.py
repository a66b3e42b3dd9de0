"""Authority: who may send and answer as whom at a bus shard — pure logic, no Ray."""

from __future__ import annotations

from collections import Counter

from cluster._authority import Authority
from cluster._messages import DEAD_LETTER_TYPE, DEAD_LETTERS
from cluster._wire import Answer, Call, Publish

HOSTS = {"employee/e1": "host-a", "manager/m1": "host-b"}  # where each agent lives


def authority() -> Authority:
    return Authority(lambda origin, agent: HOSTS.get(agent) == origin, Counter())


def call(sender: str | None, target: str = "manager/m1", origin: str = "host-a") -> Call:
    return Call("c1", "t", sender, target, "PtoRequest", {}, 0.0, origin)


def publish(sender: str | None, topic: str = "department/d1", type_name: str = "Notice") -> Publish:
    return Publish("p1", "t", sender, topic, type_name, {})


def answer(sender: str | None, caller: str = "host-a") -> Answer:
    return Answer("a1", "t", sender, caller, "Waiting", {}, "c1")


def test_a_host_sends_as_an_agent_that_lives_there() -> None:
    assert authority().refusal("host-a", call("employee/e1"), None) is None


def test_a_host_may_not_send_as_an_agent_of_another_host_and_it_is_counted() -> None:
    judge = authority()

    refused = judge.refusal("host-a", call("manager/m1"), None)

    assert refused is not None and "as 'manager/m1'" in str(refused)
    assert judge.counts["forged_senders"] == 1


def test_a_driver_sends_only_as_the_principal_its_connection_is_bound_to() -> None:
    judge = authority()

    assert judge.refusal("client-x", call("user:ann", origin="client-x"), "user:ann") is None
    assert judge.refusal("client-x", call("user:bob", origin="client-x"), "user:ann") is not None
    assert judge.refusal("client-x", call("employee/e1", origin="client-x"), "user:ann") is not None


def test_only_the_runtime_publishes_on_the_dead_letter_topic() -> None:
    judge = authority()

    assert judge.refusal("host-a", publish(None, DEAD_LETTERS, DEAD_LETTER_TYPE), None) is None
    assert judge.refusal("host-a", publish("employee/e1", DEAD_LETTERS, DEAD_LETTER_TYPE), None) is not None
    assert judge.refusal("host-a", publish(None, DEAD_LETTERS, "Notice"), None) is not None
    assert judge.refusal("client-x", publish("user:ann", DEAD_LETTERS, DEAD_LETTER_TYPE), "user:ann") is not None
    assert judge.counts["forged_senders"] == 3


def test_a_publish_with_no_sender_from_a_host_is_refused_off_the_dead_letter_topic() -> None:
    assert authority().refusal("host-a", publish(None), None) is not None


def test_an_answer_goes_to_the_caller_its_call_named_whatever_it_says() -> None:
    given = call("employee/e1", origin="host-a")

    taken = authority().answer("host-b", answer("manager/m1", caller="host-evil"), given, False)

    assert taken is not None and taken.caller == "host-a"


def test_an_answer_as_another_agent_than_the_call_was_for_is_forged() -> None:
    judge = authority()

    assert judge.answer("host-b", answer("employee/e1"), call("employee/e1"), False) is None
    assert judge.counts["forged_answers"] == 1


def test_an_answer_to_a_call_not_kept_is_taken_only_from_the_agents_host() -> None:
    judge = authority()

    assert judge.answer("host-b", answer("manager/m1"), None, False) is not None
    assert judge.answer("host-a", answer("manager/m1"), None, False) is None
    assert judge.counts["forged_answers"] == 1


def test_a_driver_never_answers_a_call_the_bus_does_not_keep() -> None:
    judge = authority()

    assert judge.answer("client-x", answer("user:ann"), None, True) is None
    assert judge.counts["forged_answers"] == 1
