"""The Python package as a test suite uses it; each lab test runs in the
sandbox of run-tests.sh and must leave it empty (the `sandbox` fixture)."""

import socket
import subprocess
import threading

import pytest

import vnet
from conftest import host_links, netns_list

PAIR = """name: pair
nodes: { h1: {}, h2: {} }
links:
  - endpoints:
      - { node: h1, interface: eth0, ip: 10.0.0.1/24 }
      - { node: h2, interface: eth0, ip: 10.0.0.2/24 }
"""


def test_bad_lab_files_raise_with_vnets_text():
    with pytest.raises(vnet.VnetError) as e:
        vnet.Lab.from_yaml("name: x\nnodes:\n  h1: { kind: router }\n")
    assert "lab.yaml:3:" in str(e.value)
    with pytest.raises(vnet.VnetError, match="cannot read /nonexistent"):
        vnet.Lab.from_file("/nonexistent/lab.yaml")
    lab = vnet.Lab.from_yaml(PAIR)
    assert lab.name == "pair" and lab.nodes() == ["h1", "h2"]


def test_run_popen_call_and_probes(sandbox, router_yaml):
    with vnet.Lab.from_file(router_yaml) as lab:
        assert lab.name.startswith("router-")
        assert lab.node("h1").netns.endswith(".h1")
        r = lab.node("h1").run(["ping", "-c1", "-W2", "10.0.2.2"])
        assert r.returncode == 0, r.stderr
        assert b"1 received" in r.stdout
        r = lab.node("h1").run("ip -j addr show dev eth0", shell=True, text=True)
        assert "10.0.1.2" in r.stdout
        assert lab.node("h1").run(["sh", "-c", "exit 3"]).returncode == 3
        with pytest.raises(vnet.VnetError, match="no namespace node nope"):
            lab.node("nope").run(["true"])

        # A server in h2, a client in h1: a real TCP exchange across r1.
        srv = lab.node("h2").call(socket.create_server, ("10.0.2.2", 0))
        port = srv.getsockname()[1]
        got = []

        def serve():
            conn, peer = srv.accept()
            got.append((peer[0], conn.recv(5)))
            conn.sendall(b"pong!")
            conn.close()

        t = threading.Thread(target=serve)
        t.start()

        def client():
            with socket.create_connection(("10.0.2.2", port), timeout=5) as c:
                c.sendall(b"ping!")
                return c.recv(5)

        assert lab.node("h1").call(client) == b"pong!"
        t.join()
        assert got == [("10.0.1.2", b"ping!")]
        srv.close()
        with pytest.raises(ZeroDivisionError):
            lab.node("h1").call(lambda: 1 / 0)

        sleeper = lab.node("h2").popen(["sleep", "600"])

        m = lab.ping_all()
        assert m.ok and m.all_reachable, m
        assert any(p["from"] == "h1" and p.to == "h2" and p.reachable for p in m.pairs)
        assert {p.src for p in m.pairs} == {"h1", "h2", "r1"}
        assert all(p["rtt_ms"] is not None for p in m.pairs)

        v = lab.doctor("h1", "h2")
        assert v["status"] == "works"
        assert "the path works" in lab.doctor_text("h1", "h2")
        assert lab.trace("h1", "h2")["answered"]

        lab.node("h2").run(["ip", "link", "set", "eth0", "down"], check=True)
        v = lab.doctor("h1", "h2")
        assert v["status"] == "found"
        assert "link.down" in [c["id"] for c in v["causes"]]
        assert not lab.ping_all().ok
    # Leaving the block killed the server and removed the lab.
    assert sleeper.wait(timeout=5) == -9


def test_an_exception_inside_the_lab_leaves_nothing(sandbox):
    with pytest.raises(RuntimeError, match="boom"):
        with vnet.Lab.from_yaml(PAIR) as lab:
            p = lab.node("h1").popen(["sleep", "600"])
            assert len(netns_list()) == 2
            raise RuntimeError("boom")
    assert p.wait(timeout=5) == -9


def test_two_copies_of_one_lab_at_once(sandbox):
    lab = vnet.Lab.from_yaml(PAIR)
    with lab as a, lab as b:
        assert a.name != b.name
        assert len(netns_list()) == 4
        assert a.ping_all().ok and b.ping_all().ok


def test_the_vnet_lab_fixture_takes_a_path_or_yaml(sandbox, vnet_lab, router_yaml):
    a = vnet_lab(router_yaml)
    b = vnet_lab(PAIR)
    assert a.ping_all().ok
    assert b.node("h1").run(["ping", "-c1", "-W2", "10.0.0.2"]).returncode == 0
    assert len(netns_list()) == 5


def test_a_failing_test_with_vnet_lab_leaves_nothing(sandbox, pytester):
    pytester.makepyfile(
        f'''
PAIR = """{PAIR}"""

def test_fails(vnet_lab):
    lab = vnet_lab(PAIR)
    lab.node("h2").popen(["sleep", "600"])
    assert lab.ping_all().ok
    assert False, "a failing test"
'''
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert netns_list() == []
    assert host_links() == ["lo"]


def test_impair_changes_a_link_live(sandbox):
    with vnet.Lab.from_yaml(PAIR) as lab:
        r = lab.impair("h1", "eth0", rate="10mbit")
        assert r["changed"] and r["after"]["rate"]
        with pytest.raises(vnet.VnetError, match="not a link condition"):
            lab.impair("h1", "eth0", speed="fast")
        r = lab.impair("h1", "eth0", clear=True)
        assert not r["after"].get("rate")
