"""PublishTracking: a publisher's host hears Delivered once, when no copy of its publish is outstanding."""

from __future__ import annotations

from cluster._publish_tracking import PublishTracking
from cluster._wire import Delivered, Publish


def publish(publish_id: str, sender: str | None = "employee/e1") -> Publish:
    return Publish(publish_id, "", sender, "pto/d1", "Notice", {})


def told() -> tuple[PublishTracking, list[tuple[str, Delivered]]]:
    heard: list[tuple[str, Delivered]] = []
    return PublishTracking(lambda host, delivered: heard.append((host, delivered))), heard


def test_the_publishers_host_hears_delivered_once_the_last_copy_ended() -> None:
    tracking, heard = told()
    tracking.track("h1", publish("p1"))
    tracked = tracking.of("p1")
    tracking.added(tracked)
    tracking.added(tracked)
    tracking.ended("p1", tracked)
    tracking.settle("p1")
    assert heard == []
    tracking.ended("p1", tracked)
    tracking.settle("p1")
    assert heard == [("h1", Delivered("p1", "employee/e1"))]
    assert "p1" not in tracking


def test_a_publish_with_no_copy_is_delivered_at_once() -> None:
    tracking, heard = told()
    tracking.track("h1", publish("p1"))
    tracking.settle("p1")
    assert heard == [("h1", Delivered("p1", "employee/e1"))]


def test_a_copy_counted_under_an_older_tracking_does_not_end_a_newer_ones_copy() -> None:
    tracking, heard = told()
    tracking.track("h1", publish("p1"))
    old = tracking.of("p1")
    tracking.added(old)
    tracking.track("h1", publish("p1"))  # fanned out again (a restarted shard)
    tracking.added(tracking.of("p1"))
    tracking.ended("p1", old)
    tracking.settle("p1")
    assert heard == []


def test_parked_copies_keep_the_publish_outstanding() -> None:
    tracking, heard = told()
    tracking.track("h1", publish("p1"))
    tracking.parked("p1", copies=2)
    tracking.settle("p1")
    assert heard == []
    assert tracking.of("p1").outstanding == 2


def test_a_forgotten_publish_is_never_reported_delivered() -> None:
    tracking, heard = told()
    tracking.track("h1", publish("p1"))
    tracking.forget("p1")
    tracking.settle("p1")
    assert heard == [] and len(tracking) == 0


def test_a_publish_without_an_agent_sender_or_host_is_not_tracked() -> None:
    tracking, _ = told()
    tracking.track("h1", publish("p1", sender=None))
    tracking.track(None, publish("p2"))
    assert len(tracking) == 0
