"""RoutingTable and placement: pure logic, no Ray."""

from __future__ import annotations

import pickle

import pytest
import sample_agents as sa
from pydantic import BaseModel

from cluster import (
    AgentId,
    Dedicated,
    DuplicateRegistration,
    MemberSubscription,
    Sharded,
    TopicId,
    TypeSubscription,
    UnknownAgentType,
)
from cluster._routing import AgentTypeSpec, RoutingTable


def table_with(*specs: AgentTypeSpec) -> RoutingTable:
    table = RoutingTable()
    for spec in specs:
        table.add_type(spec, sa.Echo.message_types() if spec.factory is sa.Echo else [])
    return table


def spec(agent_type: str, factory: object = sa.Echo, placement: object = None, **config: object) -> AgentTypeSpec:
    return AgentTypeSpec(agent_type, factory, placement or Dedicated(), dict(config))  # type: ignore[arg-type]


# --- subscriptions --------------------------------------------------------------------------------


def test_type_subscription_maps_topic_source_to_agent_key() -> None:
    table = table_with(spec("listener"))
    table.subscribe(TypeSubscription("department", "listener"))
    assert table.recipients("department/eng", None) == {"listener/eng"}
    assert table.recipients("department/ops", None) == {"listener/ops"}


def test_type_subscription_ignores_other_topic_types() -> None:
    table = table_with(spec("listener"))
    table.subscribe(TypeSubscription("department", "listener"))
    assert table.recipients("team/eng", None) == set()


def test_every_type_subscribed_to_a_topic_type_receives() -> None:
    table = table_with(spec("listener"), spec("auditor"))
    table.subscribe(TypeSubscription("department", "listener"))
    table.subscribe(TypeSubscription("department", "auditor"))
    assert table.recipients("department/eng", None) == {"listener/eng", "auditor/eng"}


def test_member_subscription_reaches_only_its_topic() -> None:
    table = table_with(spec("employee"))
    table.subscribe(MemberSubscription(TopicId("team", "alpha"), AgentId("employee", "e1")))
    assert table.recipients("team/alpha", None) == {"employee/e1"}
    assert table.recipients("team/beta", None) == set()


def test_member_of_two_topics_is_a_recipient_of_both() -> None:
    table = table_with(spec("employee"))
    table.subscribe(MemberSubscription(TopicId("team", "alpha"), AgentId("employee", "e1")))
    table.subscribe(MemberSubscription(TopicId("team", "beta"), AgentId("employee", "e1")))
    assert table.recipients("team/alpha", None) == {"employee/e1"}
    assert table.recipients("team/beta", None) == {"employee/e1"}


def test_recipient_matched_by_two_subscriptions_is_listed_once() -> None:
    table = table_with(spec("employee"))
    table.subscribe(TypeSubscription("team", "employee"))
    table.subscribe(MemberSubscription(TopicId("team", "alpha"), AgentId("employee", "alpha")))
    recipients = table.recipients("team/alpha", None)
    assert recipients == {"employee/alpha"}
    assert len(list(recipients)) == 1


def test_publisher_is_excluded_from_its_own_publish() -> None:
    table = table_with(spec("employee"))
    table.subscribe(TypeSubscription("team", "employee"))
    table.subscribe(MemberSubscription(TopicId("team", "alpha"), AgentId("employee", "e2")))
    assert table.recipients("team/alpha", "employee/alpha") == {"employee/e2"}
    assert table.recipients("team/alpha", "employee/e2") == {"employee/alpha"}


def test_subscribing_twice_is_a_no_op() -> None:
    table = table_with(spec("listener"))
    assert table.subscribe(TypeSubscription("department", "listener")) is True
    version = table.version
    assert table.subscribe(TypeSubscription("department", "listener")) is False
    assert table.version == version
    assert table.type_subs["department"] == ("listener",)


def test_unsubscribe_stops_delivery() -> None:
    table = table_with(spec("listener"))
    member = MemberSubscription(TopicId("team", "alpha"), AgentId("listener", "x"))
    table.subscribe(TypeSubscription("department", "listener"))
    table.subscribe(member)
    assert table.unsubscribe(TypeSubscription("department", "listener")) is True
    assert table.unsubscribe(member) is True
    assert table.recipients("department/eng", None) == set()
    assert table.recipients("team/alpha", None) == set()
    assert table.unsubscribe(member) is False


# --- agent types ----------------------------------------------------------------------------------


def test_unknown_agent_type_names_the_type_and_lists_registered_ones() -> None:
    table = table_with(spec("manager"), spec("employee"))
    with pytest.raises(UnknownAgentType) as err:
        table.spec_of("ghost")
    text = str(err.value)
    assert "'ghost'" in text
    assert "employee, manager" in text


def test_endpoint_of_an_unknown_agent_type_raises_unknown_agent_type() -> None:
    table = table_with(spec("manager"))
    with pytest.raises(UnknownAgentType, match="'ghost'"):
        table.endpoint_of("ghost/g1")


def test_unknown_agent_type_on_an_empty_table_says_none_are_registered() -> None:
    with pytest.raises(UnknownAgentType, match="registered: none"):
        RoutingTable().spec_of("ghost")


def test_registering_the_same_spec_twice_is_a_no_op() -> None:
    table = RoutingTable()
    assert table.add_type(spec("echo", sa.Echo, Sharded(2), mode="x"), sa.Echo.message_types()) is True
    version = table.version
    assert table.add_type(spec("echo", sa.Echo, Sharded(2), mode="x"), sa.Echo.message_types()) is False
    assert table.version == version


def test_a_class_and_its_import_path_are_the_same_spec() -> None:
    table = RoutingTable()
    table.add_type(spec("echo", sa.Echo), sa.Echo.message_types())
    assert table.add_type(spec("echo", "sample_agents:Echo"), sa.Echo.message_types()) is False


@pytest.mark.parametrize(
    "other",
    [
        spec("echo", sa.Counter),
        spec("echo", sa.Echo, Sharded(2)),
        spec("echo", sa.Echo, Dedicated(), mode="y"),
    ],
    ids=["other-class", "other-placement", "other-config"],
)
def test_a_different_spec_under_the_same_name_raises_duplicate_registration(other: AgentTypeSpec) -> None:
    table = RoutingTable()
    table.add_type(spec("echo", sa.Echo, Dedicated(), mode="x"), sa.Echo.message_types())
    with pytest.raises(DuplicateRegistration, match="'echo'"):
        table.add_type(other, [])
    assert table.spec_of("echo").factory is sa.Echo


def test_a_pool_with_two_different_sizes_raises_duplicate_registration() -> None:
    table = RoutingTable()
    table.add_type(spec("manager", sa.Echo, Sharded(2, pool="pto")))
    with pytest.raises(DuplicateRegistration, match="'pto'"):
        table.add_type(spec("employee", sa.Counter, Sharded(3, pool="pto")))
    assert "employee" not in table.types


def test_an_unpooled_type_named_like_a_pool_cannot_join_it_with_another_size() -> None:
    table = RoutingTable()
    table.add_type(spec("pto", sa.Echo, Sharded(4)))
    with pytest.raises(DuplicateRegistration):
        table.add_type(spec("employee", sa.Counter, Sharded(2, pool="pto")))


def test_types_sharing_a_pool_of_one_size_share_its_hosts() -> None:
    table = RoutingTable()
    table.add_type(spec("manager", sa.Echo, Sharded(1, pool="pto")))
    table.add_type(spec("employee", sa.Counter, Sharded(1, pool="pto")))
    assert table.endpoint_of("manager/m1") == table.endpoint_of("employee/e1") == "pool:pto.0"


def test_agent_class_resolves_an_import_path() -> None:
    table = RoutingTable()
    table.add_type(spec("counter", "sample_agents:Counter"))
    assert table.agent_class("counter") is sa.Counter


def test_a_pickled_table_keeps_its_routes() -> None:
    table = table_with(spec("listener"))
    table.subscribe(TypeSubscription("department", "listener"))
    table.agent_class("listener")
    copy = pickle.loads(pickle.dumps(table))
    assert copy.version == table.version
    assert copy.recipients("department/eng", None) == {"listener/eng"}
    assert copy.agent_class("listener") is sa.Echo


# --- placement ------------------------------------------------------------------------------------


def test_dedicated_gives_each_agent_its_own_endpoint() -> None:
    table = table_with(spec("manager"))
    assert table.endpoint_of("manager/m1") != table.endpoint_of("manager/m2")


def test_sharded_endpoint_is_stable_for_an_id() -> None:
    placement = Sharded(7)
    first = [placement.endpoint("employee", f"e{i}") for i in range(50)]
    again = [Sharded(7).endpoint("employee", f"e{i}") for i in range(50)]
    assert first == again


def test_sharded_endpoint_is_a_fixed_known_value() -> None:
    # crc32, not hash(): another process (whose str hash is salted differently) must agree.
    import zlib

    expected = zlib.crc32(b"employee/e17") % 4
    assert Sharded(4).endpoint("employee", "e17") == f"pool:employee.{expected}"


def test_sharded_spreads_agents_over_all_n_hosts() -> None:
    endpoints = {Sharded(4).endpoint("employee", f"e{i}") for i in range(200)}
    assert endpoints == {f"pool:employee.{i}" for i in range(4)}


def test_sharded_with_a_pool_uses_the_pool_name() -> None:
    assert Sharded(1, pool="pto").endpoint("employee", "e1") == "pool:pto.0"


GROUPS = {"employee/e1": "d0", "hr/d0": "d0", "employee/e2": "d1", "hr/d1": "d1", "team/t9": "d2"}


def test_sharded_groups_put_agents_of_one_group_on_one_host_whatever_their_type() -> None:
    placement = Sharded(2, pool="pto", groups=GROUPS)
    assert placement.endpoint("employee", "e1") == placement.endpoint("hr", "d0")
    assert placement.endpoint("employee", "e2") == placement.endpoint("hr", "d1")


def test_sharded_groups_are_dealt_to_the_hosts_in_turn() -> None:
    placement = Sharded(2, pool="pto", groups=GROUPS)
    assert [placement.endpoint("hr", "d0"), placement.endpoint("hr", "d1"), placement.endpoint("team", "t9")] == [
        "pool:pto.0", "pool:pto.1", "pool:pto.0"]


def test_sharded_ids_outside_the_groups_are_hashed_as_before() -> None:
    assert Sharded(4, groups=GROUPS).endpoint("employee", "e17") == Sharded(4).endpoint("employee", "e17")


def test_sharded_groups_survive_pickling_to_another_process() -> None:
    placement = Sharded(2, pool="pto", groups=GROUPS)
    assert pickle.loads(pickle.dumps(placement)).endpoint("employee", "e2") == placement.endpoint("employee", "e2")


def test_the_same_type_registered_with_other_groups_is_a_duplicate_registration() -> None:
    table = table_with(spec("employee", sa.Counter, Sharded(2, groups=GROUPS)))
    with pytest.raises(DuplicateRegistration):
        table.add_type(spec("employee", sa.Counter, Sharded(2, groups={"employee/e1": "d9"})))


@pytest.mark.parametrize("n", [0, -1, 1.5, "2"])
def test_sharded_rejects_a_non_positive_or_non_integer_n(n: object) -> None:
    with pytest.raises(ValueError, match="n must be a positive integer"):
        Sharded(n)  # type: ignore[arg-type]


# --- message types --------------------------------------------------------------------------------


def _impostor_ping() -> type[BaseModel]:
    class Ping(BaseModel):  # same name as sample_agents.Ping, another class
        text: str

    return Ping


def test_message_type_name_clash_raises_duplicate_registration() -> None:
    table = RoutingTable()
    table.add_type(spec("echo", sa.Echo), sa.Echo.message_types())
    with pytest.raises(DuplicateRegistration, match="'Ping'"):
        table.add_type(spec("other", sa.Counter), [_impostor_ping()])


def test_registering_the_same_message_type_again_is_fine() -> None:
    table = RoutingTable()
    table.add_type(spec("echo", sa.Echo), sa.Echo.message_types())
    table.add_type(spec("relayer", sa.Relayer), sa.Relayer.message_types())
    assert "Ping" in table.messages and "Relay" in table.messages


def test_agent_message_types_list_handled_and_reply_types() -> None:
    names = [cls.__name__ for cls in sa.Relayer.message_types()]
    assert names == ["AskWho", "Pong", "Relay", "SenderSeen"]


def test_types_registered_with_equal_configs_and_placements_share_one_of_each() -> None:
    org = "x" * 100_000  # an org handed to every type: equal texts, one object per registration on the wire
    groups = {f"echo{n}/k": "g" for n in range(3)}
    table = table_with(*(spec(f"echo{n}", placement=Sharded(2, pool="p", groups=dict(groups)), org="".join(org))
                         for n in range(3)))
    specs = list(pickle.loads(pickle.dumps(table)).types.values())  # as a host gets it
    assert len({id(s.config) for s in specs}) == 1 and len({id(s.placement) for s in specs}) == 1
    assert len(pickle.dumps(table)) < 2 * len(org)


def test_only_hosts_the_runtime_placed_agents_on_may_be_retired() -> None:
    table = RoutingTable()
    table.add_type(spec("hr", sa.Echo, Dedicated(movable=True)))
    table.add_type(spec("boss", sa.Echo, Dedicated()))
    table.add_type(spec("employee", sa.Counter, Sharded(4)))
    table.add_type(spec("manager", sa.Echo, Sharded(2, pool="pto")))
    assert table.movable_endpoint("agent:hr/d0") and table.movable_endpoint("pool:employee.3")
    assert not table.movable_endpoint("agent:boss/b") and not table.movable_endpoint("pool:pto.1")
    assert not table.movable_endpoint("pool:nobody.0")  # no type starts there: not the runtime's to stop


def test_pool_hosts_counts_a_shared_pool_once() -> None:
    table = RoutingTable()
    table.add_type(spec("employee", sa.Counter, Sharded(4)))
    table.add_type(spec("manager", sa.Echo, Sharded(2, pool="pto")))
    table.add_type(spec("team", sa.Echo, Sharded(2, pool="pto")))
    table.add_type(spec("hr", sa.Echo))
    assert table.pool_hosts() == 6


def test_a_host_that_hands_over_an_agent_placed_elsewhere_forgets_it_and_its_placements_host_remembers() -> None:
    table = RoutingTable()
    table.add_type(spec("hr", sa.Echo, Dedicated(movable=True)))
    table.handed_over("hr/d0", "pool:x.0", "agent:hr/d0")  # its placement's host must not start it again
    assert table.endpoint_of("hr/d0") == "pool:x.0"
    table.moved["hr/d1"] = "pool:x.0"
    table.handed_over("hr/d1", "pool:x.1", "pool:x.0")  # where it goes next is not this host's to keep
    assert "hr/d1" not in table.moved and table.endpoint_of("hr/d1") == "agent:hr/d1"


def test_a_remembered_home_is_the_placements_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cluster._routing.HOMES", 8)  # emptied and filled again on the way
    placement = Sharded(3, pool="p")
    table = table_with(spec("echo", placement=placement))
    ids = [f"echo/k{i}" for i in range(20)]
    assert [table.home_of(agent_id) for agent_id in ids * 2] == [
        placement.endpoint("echo", agent_id.partition("/")[2]) for agent_id in ids * 2]


def test_remembered_homes_stay_within_their_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cluster._routing.HOMES", 8)
    table = table_with(spec("echo", placement=Sharded(3, pool="p")))
    for i in range(100):
        table.home_of(f"echo/k{i}")
    assert len(table._homes) <= 8


def test_remembered_homes_do_not_travel_with_the_table() -> None:
    table = table_with(spec("echo", placement=Sharded(3, pool="p")))
    table.home_of("echo/k1")
    assert pickle.loads(pickle.dumps(table))._homes == {}
