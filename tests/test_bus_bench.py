"""The bus benchmark's hot key, hot topic and local sections, at tiny sizes, against this session's Ray."""

from __future__ import annotations

from typing import Any

from cluster.constants import shard_of
from scenarios import bus_bench
from scenarios._bench_idle import IDLE_KINDS
from scenarios._bench_shards import dealt


def test_hot_sections_report_positive_figures(runtime: Any) -> None:
    args = bus_bench.parser().parse_args([
        "--seconds", "0.5", "--in-flight", "10", "--fanouts", "",
        "--hot-in-flight", "10", "--hot-senders", "5", "--hot-sender-in-flight", "2",
        "--hot-subscribers", "50", "--hot-wave", "10", "--local-in-flight", "3",
    ])
    bus_bench.register(runtime)
    results = bus_bench.run(runtime, args)
    figures = {figure.name: figure.value for figure in results}
    hot = {name: value for name, value in figures.items() if name.startswith("hot ")}
    assert sorted(hot) == [
        "hot key: bus send to one agent from 5 agents x 2 in flight",
        "hot key: bus send to one agent, 10 in flight from the driver",
        "hot topic: bus publish to one topic of 50 subscribers",
    ]
    assert figures["agents of one host: sends between two, 3 in flight"] > 0
    assert all(value > 0 for value in figures.values())
    # what each of the bus's figures cost our processes a unit; raw Ray's is not ours to count
    assert all((figure.cpu_us is None) == figure.name.startswith("raw ") for figure in results)
    assert all(figure.cpu_us > 0 for figure in results if figure.cpu_us is not None)
    assert not any(name.startswith("bus publish to ") for name in figures)  # --fanouts '' skips them


def test_zero_skips_the_hot_and_local_sections(runtime: Any) -> None:
    args = bus_bench.parser().parse_args(["--hot-in-flight", "0", "--hot-senders", "0", "--hot-subscribers", "0",
                                          "--local-in-flight", "0"])
    names = [name for name, _unit, _fn in bus_bench.sections(runtime, args)]
    assert names[0] == "raw Ray pipelined calls"
    assert not [name for name in names if name.startswith(("hot ", "agents of one host"))]


def test_the_local_sections_sender_and_target_share_a_host(runtime: Any) -> None:
    bus_bench.register(runtime)
    table = runtime._client.table
    assert table.endpoint_of("hotsender/s0") == table.endpoint_of(str(bus_bench.NEAR))


def test_shard_curve_reports_positive_figures_at_each_shard_count(ray_session: Any) -> None:
    args = bus_bench.parser().parse_args([
        "--seconds", "0.5", "--in-flight", "10", "--shard-curve", "1,2", "--curve-topics", "2",
        "--curve-subscribers", "4",
    ])
    # the curve's keys are dealt over the shards in turn, so every shard gets its share of the load
    assert [shard_of(f"bench/spread{i}", 4) for i in dealt(lambda i: f"bench/spread{i}", 8, 4)] == [0, 1, 2, 3] * 2
    points = bus_bench.shard_curve(args, baseline=bus_bench.raw_pipelined(0.5, 10))
    assert [(p["shards"], p["name"]) for p in points] == [
        (shards, name) for shards in (1, 2)
        for name in ("bus send, 10 in flight to 64 agents", "bus publish, 2 topics x 4 subscribers")
    ]
    figures = ("value", "ratio", "vs_first", "per_cpu_s", "wall_s", "host_nodes")
    assert all(p[key] > 0 for p in points for key in figures)
    assert [p["vs_first"] for p in points[:2]] == [1.0, 1.0]
    assert all(p["cores_busy"]["ours"] > 0 and p["cores_busy"]["machine"] > 0 for p in points)


def test_one_send_at_idle_is_timed_from_the_driver_and_between_two_hosts_against_a_raw_call(runtime: Any) -> None:
    args = bus_bench.parser().parse_args(["--idle-rounds", "2", "--idle-sends", "3"])
    bus_bench.register(runtime)
    figures = bus_bench.idle(runtime, args)
    assert [(f.name, f.samples) for f in figures] == [(name, 6) for name in IDLE_KINDS]
    assert figures[0].vs_raw == 1.0
    assert all(f.median_ms > 0 and f.p90_ms >= f.median_ms for f in figures)
    # the prober and its target live on two hosts, so its sends cross the bus
    assert runtime._client.table.endpoint_of(str(bus_bench.PROBER)) != runtime._client.table.endpoint_of(
        str(bus_bench.SPREAD[0]))
