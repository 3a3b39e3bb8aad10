"""Tests of a networked program with vnet's pytest plugin: `vnet_lab` brings
a lab up for the test and tears it down when the test ends, passed or failed.

    pip install ./python
    sudo pytest examples/test_lab.py       # or inside `unshare -rn --mount`
"""

import os
import socket
import threading

ROUTER = os.path.join(os.path.dirname(__file__), "router.yaml")


def test_hosts_reach_each_other_through_the_router(vnet_lab):
    lab = vnet_lab(ROUTER)
    assert lab.ping_all().ok
    r = lab.node("h1").run(["ping", "-c1", "10.0.2.2"])
    assert r.returncode == 0, r.stderr


def test_a_server_in_one_node_answers_a_client_in_another(vnet_lab):
    lab = vnet_lab(ROUTER)
    server = lab.node("h2").call(socket.create_server, ("10.0.2.2", 7000))

    def serve():
        conn, _ = server.accept()
        conn.sendall(b"hello")
        conn.close()

    t = threading.Thread(target=serve)
    t.start()

    def client():
        with socket.create_connection(("10.0.2.2", 7000), timeout=5) as c:
            return c.recv(5)

    assert lab.node("h1").call(client) == b"hello"
    t.join()


def test_the_doctor_names_a_broken_link(vnet_lab):
    lab = vnet_lab(
        """name: broken
nodes: { a: {}, b: {} }
links:
  - endpoints:
      - { node: a, interface: eth0, ip: 10.9.0.1/24 }
      - { node: b, interface: eth0, ip: 10.9.0.2/24 }
"""
    )
    lab.node("b").run(["ip", "link", "set", "eth0", "down"], check=True)
    verdict = lab.doctor("a", "b")
    assert verdict["status"] == "found"
    assert "link.down" in [c["id"] for c in verdict["causes"]]
