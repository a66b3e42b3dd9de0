"""actors._config: the org of an agent type's config, parsed once per process."""

from __future__ import annotations

from actors._config import org_blob, org_of
from actors.org import Org


def test_an_equal_org_blob_in_another_config_gives_the_same_parsed_org() -> None:
    blob = org_blob(Org.generate(seed=7, employees=20))
    copy = b"".join([blob[:1], blob[1:]])  # equal, another object: as another type's config, or a newer table
    assert copy is not blob and org_of({"org": copy}) is org_of({"org": blob})


def test_an_org_blob_gives_back_the_org_it_was_made_of() -> None:
    org = Org.generate(seed=7, employees=20)
    assert org_of({"org": org_blob(org)}) == org
