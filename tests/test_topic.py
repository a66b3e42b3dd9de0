"""TopicId: validation, string form, immutability, value semantics."""

from __future__ import annotations

import dataclasses

import pytest

from cluster import AgentId, TopicId


def test_valid_parts_are_accepted() -> None:
    topic = TopicId("department", "eng-1.x_y")
    assert (topic.type, topic.source) == ("department", "eng-1.x_y")


@pytest.mark.parametrize("bad_type", ["", "two words", "a/b", "bad!", None])
def test_invalid_type_error_names_the_type_part(bad_type: object) -> None:
    with pytest.raises(ValueError, match=r"invalid topic id type") as err:
        TopicId(bad_type, "eng")  # type: ignore[arg-type]
    assert repr(bad_type) in str(err.value)


@pytest.mark.parametrize("bad_source", ["", "x y", "a/b", "s#1", 3])
def test_invalid_source_error_names_the_source_part(bad_source: object) -> None:
    with pytest.raises(ValueError, match=r"invalid topic id source") as err:
        TopicId("department", bad_source)  # type: ignore[arg-type]
    assert repr(bad_source) in str(err.value)


def test_str_is_type_slash_source() -> None:
    assert str(TopicId("department", "eng")) == "department/eng"


@pytest.mark.parametrize("topic", [TopicId("department", "eng"), TopicId("team.x", "alpha-1_b")])
def test_str_from_str_round_trip(topic: TopicId) -> None:
    assert TopicId.from_str(str(topic)) == topic


def test_from_str_without_slash_names_the_text() -> None:
    with pytest.raises(ValueError, match=r"invalid topic id 'departmenteng'"):
        TopicId.from_str("departmenteng")


def test_from_str_with_empty_source_names_the_source() -> None:
    with pytest.raises(ValueError, match=r"invalid topic id source ''"):
        TopicId.from_str("department/")


def test_is_frozen() -> None:
    topic = TopicId("department", "eng")
    with pytest.raises(dataclasses.FrozenInstanceError):
        topic.source = "ops"  # type: ignore[misc]


def test_equal_topics_are_equal_and_hash_alike() -> None:
    assert TopicId("department", "eng") == TopicId.from_str("department/eng")
    assert hash(TopicId("department", "eng")) == hash(TopicId.from_str("department/eng"))
    assert len({TopicId("department", "eng"), TopicId("department", "eng")}) == 1


def test_topics_differing_in_either_part_differ() -> None:
    assert TopicId("department", "eng") != TopicId("department", "ops")
    assert TopicId("department", "eng") != TopicId("team", "eng")


def test_a_topic_never_equals_an_agent_id_with_the_same_parts() -> None:
    assert TopicId("x", "y") != AgentId("x", "y")
