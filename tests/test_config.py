"""actors._config: the org of an agent type's config, parsed once per process."""

from __future__ import annotations

from actors._config import org_of
from actors.org import Org


def test_an_equal_org_text_in_another_config_gives_the_same_parsed_org() -> None:
    text = Org.generate(seed=7, employees=20).model_dump_json()
    copy = "".join([text[:1], text[1:]])  # equal, another object: as another type's config, or a newer table
    assert copy is not text and org_of({"org": copy}) is org_of({"org": text})
