"""The pytest plugin (entry point ``pytest11``): the ``vnet_lab`` fixture.

    def test_ping(vnet_lab):
        lab = vnet_lab("lab.yaml")          # a path, or the YAML text itself
        assert lab.ping_all().ok

Every lab the factory made is torn down when the test ends, passed or failed.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator, List

import pytest

from . import Lab, RunningLab


def _load(source: "str | os.PathLike[str]") -> Lab:
    text = os.fspath(source)
    # YAML text has a newline (a lab needs `name:` and `nodes:`); a path has none.
    if "\n" in text:
        return Lab.from_yaml(text)
    return Lab.from_file(text)


@pytest.fixture
def vnet_lab() -> Iterator[Callable[..., RunningLab]]:
    """A factory: ``vnet_lab(path_or_yaml, exact_names=False)`` → a running lab."""
    made: List[RunningLab] = []

    def factory(source: "str | os.PathLike[str]", exact_names: bool = False) -> RunningLab:
        lab = _load(source).up(exact_names=exact_names)
        made.append(lab)
        return lab

    yield factory
    errors = []
    for lab in reversed(made):
        try:
            lab.down()
        except Exception as e:  # every lab goes, whatever one says
            errors.append(e)
    if errors:
        raise errors[0]
