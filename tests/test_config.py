"""actors._config: the org of an agent type's config, parsed once per process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from actors._config import org_blob, org_of
from actors.org import Org


def test_an_equal_org_blob_in_another_config_gives_the_same_parsed_org() -> None:
    blob = org_blob(Org.generate(seed=7, employees=20))
    copy = b"".join([blob[:1], blob[1:]])  # equal, another object: as another type's config, or a newer table
    assert copy is not blob and org_of({"org": copy}) is org_of({"org": blob})


def test_an_org_blob_gives_back_the_org_it_was_made_of() -> None:
    org = Org.generate(seed=7, employees=20)
    assert org_of({"org": org_blob(org)}) == org


# Measured in a fresh interpreter: after other tests (Ray's among them) the same parse counted 906 bytes an employee
# under tracemalloc in the test's own process, whatever the records.
_PARSED_BYTES = """
import gc, tracemalloc
from actors._config import org_blob, org_of
from actors.org import Org
blob = org_blob(Org.generate(seed=7, employees=10_000))
gc.collect()
tracemalloc.start()
parsed = org_of({"org": blob})
gc.collect()
assert len(parsed.employees) == 10_000
print(tracemalloc.get_traced_memory()[0])
"""


def test_a_parsed_org_holds_under_650_bytes_an_employee() -> None:
    """Every host parses the org: at 100,000 employees its records were 107 MB a process as pydantic models (863
    bytes an employee at 10,000), 68 MB as slotted dataclasses with interned keys (525)."""
    held = int(subprocess.run([sys.executable, "-c", _PARSED_BYTES], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent.parent).stdout)
    assert held / 10_000 < 650


def test_an_employees_key_in_the_org_is_its_records_id_not_a_copy() -> None:
    org = org_of({"org": org_blob(Org.generate(seed=7, employees=20))})
    assert all(key is employee.id for key, employee in org.employees.items())
