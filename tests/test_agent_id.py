"""AgentId: validation, string form, immutability, value semantics."""

from __future__ import annotations

import dataclasses

import pytest

from cluster import AgentId


def test_valid_parts_are_accepted() -> None:
    agent = AgentId("employee", "e-17.a_b")
    assert (agent.type, agent.key) == ("employee", "e-17.a_b")


@pytest.mark.parametrize("bad_type", ["", "has space", "a/b", "bad!", None])
def test_invalid_type_error_names_the_type_part(bad_type: object) -> None:
    with pytest.raises(ValueError, match=r"invalid agent id type") as err:
        AgentId(bad_type, "k1")  # type: ignore[arg-type]
    assert repr(bad_type) in str(err.value)


@pytest.mark.parametrize("bad_key", ["", "x y", "a/b", "k:1", 17])
def test_invalid_key_error_names_the_key_part(bad_key: object) -> None:
    with pytest.raises(ValueError, match=r"invalid agent id key") as err:
        AgentId("employee", bad_key)  # type: ignore[arg-type]
    assert repr(bad_key) in str(err.value)


def test_str_is_type_slash_key() -> None:
    assert str(AgentId("manager", "m1")) == "manager/m1"


@pytest.mark.parametrize("agent", [AgentId("manager", "m1"), AgentId("a-b.c", "key_with.dots-1")])
def test_str_from_str_round_trip(agent: AgentId) -> None:
    assert AgentId.from_str(str(agent)) == agent


def test_from_str_without_slash_names_the_text() -> None:
    with pytest.raises(ValueError, match=r"invalid agent id 'managerm1'"):
        AgentId.from_str("managerm1")


def test_from_str_with_extra_slash_rejects_the_key() -> None:
    with pytest.raises(ValueError, match=r"invalid agent id key 'm1/x'"):
        AgentId.from_str("manager/m1/x")


def test_from_str_with_empty_key_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"invalid agent id key ''"):
        AgentId.from_str("manager/")


def test_is_frozen() -> None:
    agent = AgentId("manager", "m1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        agent.key = "m2"  # type: ignore[misc]


def test_equal_ids_are_equal_and_hash_alike() -> None:
    assert AgentId("manager", "m1") == AgentId("manager", "m1")
    assert hash(AgentId("manager", "m1")) == hash(AgentId("manager", "m1"))
    assert len({AgentId("manager", "m1"), AgentId.from_str("manager/m1")}) == 1


def test_ids_differing_in_either_part_differ() -> None:
    assert AgentId("manager", "m1") != AgentId("manager", "m2")
    assert AgentId("manager", "m1") != AgentId("employee", "m1")
