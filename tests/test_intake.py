"""Intake: per (message id, recipient), what a host has of what the bus gave it."""

from __future__ import annotations

from cluster._intake import Intake


def test_a_recipient_that_has_a_message_does_not_take_it_again() -> None:
    intake = Intake()
    assert intake.take("m1", "a/1") and not intake.take("m1", "a/1")


def test_a_second_copy_naming_another_recipient_is_taken_for_that_one() -> None:
    intake = Intake()
    intake.take("m1", "a/1")
    assert intake.take("m1", "b/1")


def test_the_host_is_done_only_when_every_recipient_finished() -> None:
    intake = Intake()
    intake.take("m1", "a/1")
    intake.take("m1", "b/1")
    assert intake.let_go("m1", "a/1") == ()
    assert intake.holding(["m1"]) == ({"m1"}, {})
    assert sorted(intake.let_go("m1", "b/1")) == ["a/1", "b/1"]
    held, finished = intake.holding(["m1"])
    assert held == set() and sorted(finished["m1"]) == ["a/1", "b/1"]


def test_a_finished_message_is_taken_again_by_a_later_copy() -> None:
    intake = Intake()
    intake.take("m1", "a/1")
    intake.let_go("m1", "a/1")
    assert intake.take("m1", "a/1")


def test_a_message_delivered_in_process_is_no_business_of_the_intake() -> None:
    intake = Intake()
    assert intake.let_go("local-1", "a/1") == () and len(intake) == 0


def test_an_id_the_host_never_had_is_neither_held_nor_finished() -> None:
    assert Intake().holding(["m9"]) == (set(), {})


def test_a_later_copy_finished_adds_its_recipients_to_those_that_finished_the_message() -> None:
    intake = Intake()
    intake.take("m1", "a/1")
    assert intake.let_go("m1", "a/1") == ("a/1",)
    intake.take("m1", "b/1")
    assert intake.let_go("m1", "b/1") == ("b/1",)
    assert intake.holding(["m1"]) == (set(), {"m1": ("a/1", "b/1")})


def test_a_recipient_that_took_a_message_along_in_a_move_takes_it_again_when_back() -> None:
    intake = Intake()
    intake.take("m1", "a/1")
    intake.take("m1", "b/1")
    intake.passed_on("m1", "b/1")  # b/1 left with it; a/1 still has it
    assert intake.take("m1", "b/1")


def test_a_recipient_that_took_a_message_along_in_a_move_is_never_said_to_have_finished_it_here() -> None:
    intake = Intake()
    intake.take("m1", "a/1")

    assert intake.passed_on("m1", "a/1") == ()
    assert intake.holding(["m1"]) == (set(), {})  # the bus hears nothing was handled here: the copy is not done


def test_when_the_last_recipient_here_leaves_with_a_message_those_that_finished_it_are_named() -> None:
    intake = Intake()
    intake.take("m1", "a/1")
    intake.take("m1", "b/1")
    intake.let_go("m1", "a/1")

    assert intake.passed_on("m1", "b/1") == ("a/1",)
    assert intake.holding(["m1"]) == (set(), {"m1": ("a/1",)})
