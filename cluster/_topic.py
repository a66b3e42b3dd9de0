"""TopicId: a place to publish to, ``type/source``."""

from __future__ import annotations

from dataclasses import dataclass

from ._ids import check_part, split_pair

__all__ = ["TopicId"]


@dataclass(frozen=True, slots=True)
class TopicId:
    """A topic: its type says what it is about, its source says which one (``department/eng``)."""

    type: str
    source: str

    def __post_init__(self) -> None:
        check_part("topic id", "type", self.type)
        check_part("topic id", "source", self.source)

    @classmethod
    def from_str(cls, text: str) -> TopicId:
        return cls(*split_pair("topic id", text))

    def __str__(self) -> str:
        return f"{self.type}/{self.source}"
