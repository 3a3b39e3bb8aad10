import json
import os
import subprocess

import pytest

pytest_plugins = ["pytester"]

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def in_sandbox() -> bool:
    """Labs are built only inside a throwaway network namespace (run-tests.sh)."""
    return os.environ.get("VNET_SANDBOX") == "1"


def netns_list():
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return sorted(n["name"] for n in json.loads(out or "[]"))


def host_links():
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout
    return sorted(l["ifname"] for l in json.loads(out or "[]"))


@pytest.fixture
def sandbox():
    """Needs the sandbox; afterwards the test left no namespace, no interface."""
    if not in_sandbox():
        if os.environ.get("VNET_TESTS_MUST_RUN", "0") != "0":
            pytest.fail("not in a sandbox (run python/run-tests.sh), and VNET_TESTS_MUST_RUN is set")
        pytest.skip("builds labs: run through python/run-tests.sh (a network namespace of its own)")
    yield
    assert netns_list() == []
    assert host_links() == ["lo"]


@pytest.fixture
def router_yaml():
    return os.path.join(EXAMPLES, "router.yaml")
