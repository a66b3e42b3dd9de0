"""Principals (cluster/_principal.py): the validated value, how a stamped sender reads, and the agent types that
may not be registered. Without Ray."""

from __future__ import annotations

import pytest
import sample_agents as sa

from cluster import AgentId, Principal, Sharded
from cluster._principal import ADMIN, ANONYMOUS, check_agent_type, stamped
from cluster._routing import AgentTypeSpec, RoutingTable


@pytest.mark.parametrize("text", ["admin", "anonymous", "user/e17", "service/pto", "service/load.gen-2"])
def test_a_principal_reads_back_as_the_text_it_was_parsed_from(text: str) -> None:
    assert str(Principal.parse(text)) == text


@pytest.mark.parametrize("text, why", [
    ("root", "invalid principal kind 'root'"), ("employee/e1", "invalid principal kind 'employee'"),
    ("user/", "invalid principal name ''"), ("user/a b", "invalid principal name 'a b'"),
    ("admin/x", "'admin' takes no name"), ("", "invalid principal kind ''"),
])
def test_a_malformed_principal_is_refused_naming_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Principal.parse(text)


def test_a_stamped_sender_is_an_agent_or_a_drivers_principal_never_both() -> None:
    assert stamped("manager/m1") == (AgentId("manager", "m1"), None)
    assert stamped("user/e1") == (None, Principal.user("e1"))
    assert stamped("admin") == (None, ADMIN)
    assert stamped("anonymous") == (None, ANONYMOUS)
    assert stamped(None) == (None, None)  # the runtime's own messages


@pytest.mark.parametrize("agent_type", ["user", "service", "admin", "anonymous"])
def test_an_agent_type_named_as_a_principal_kind_is_refused_at_register(agent_type: str) -> None:
    with pytest.raises(ValueError, match=f"agent type '{agent_type}' is reserved"):
        RoutingTable().add_type(AgentTypeSpec(agent_type, sa.Echo, Sharded(1)))
    with pytest.raises(ValueError, match="is reserved"):
        check_agent_type(agent_type)


def test_agent_types_that_only_start_like_a_principal_kind_are_agents() -> None:
    assert RoutingTable().add_type(AgentTypeSpec("users", sa.Echo, Sharded(1)))
    assert stamped("users/e1") == (AgentId("users", "e1"), None)
