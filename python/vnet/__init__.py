"""vnet: Linux virtual network labs (namespaces, veth pairs, bridges) for tests.

    import vnet
    with vnet.Lab.from_file("lab.yaml") as lab:       # torn down on exit, also on exceptions
        r = lab.node("h1").run(["ping", "-c1", "10.0.0.2"])
        assert r.returncode == 0
        p = lab.node("h2").popen(["my-server"])       # killed at teardown
        assert lab.ping_all().ok
        verdict = lab.doctor("h1", "h2")              # dict, as `vnet doctor --json`

Each lab that is brought up is a copy under names of its own (the lab
`NAME-PID-N`, namespaces `NAME-PID-N.NODE`), so tests may run in parallel;
every method takes and gives the lab file's names. Building labs needs root,
or a user namespace of your own (`unshare -rn --mount`).
"""

from __future__ import annotations

import os
import subprocess
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, TypeVar, Union

from . import _vnet
from ._vnet import VnetError

__all__ = ["Lab", "RunningLab", "Node", "Matrix", "Pair", "VnetError"]

T = TypeVar("T")
PathLike = Union[str, "os.PathLike[str]"]


class Lab:
    """A validated lab: from a lab file or its YAML text.

    Use it as a context manager (``with Lab.from_file(p) as lab:``), which
    brings a copy up and tears it down on exit, or call :meth:`up`.
    """

    def __init__(self, inner: _vnet.Lab) -> None:
        self._inner = inner
        self._running: List[RunningLab] = []

    @classmethod
    def from_file(cls, path: PathLike) -> "Lab":
        return cls(_vnet.Lab.from_file(os.fspath(path)))

    @classmethod
    def from_yaml(cls, text: str) -> "Lab":
        return cls(_vnet.Lab.from_yaml(text))

    @property
    def name(self) -> str:
        return self._inner.name

    def nodes(self) -> List[str]:
        return self._inner.nodes()

    def up(self, exact_names: bool = False) -> "RunningLab":
        """Bring a copy of the lab up; it forwards when this returns."""
        return RunningLab(self._inner.up(exact_names))

    def __enter__(self) -> "RunningLab":
        running = self.up()
        self._running.append(running)
        return running

    def __exit__(self, *exc: object) -> None:
        self._running.pop().down()


class RunningLab:
    """A lab that is up. ``down()`` (or leaving its ``with``) tears it down,
    first killing what ``popen`` started."""

    def __init__(self, inner: _vnet.RunningLab) -> None:
        self._inner = inner
        self._procs: List[subprocess.Popen] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The kernel's name of this copy (``vnet status NAME``)."""
        return self._inner.name

    def nodes(self) -> List[str]:
        return self._inner.nodes()

    def node(self, name: str) -> "Node":
        return Node(self, name)

    def host_interface(self, name: str) -> Optional[str]:
        """The kernel's name of an interface in the host namespace."""
        return self._inner.host_interface(name)

    def ping_all(self, timeout: float = 1.0, count: int = 1) -> "Matrix":
        """Every node pings every address of every other node."""
        return Matrix(self._inner.ping_all(timeout, count))

    def trace(self, src: str, dst: str) -> Dict[str, Any]:
        """One echo request followed frame by frame (``vnet trace --json``)."""
        return self._inner.trace(src, dst)

    def doctor(self, src: str, dst: str) -> Dict[str, Any]:
        """Why ``src`` does or does not reach ``dst`` (``vnet doctor --json``)."""
        return self._inner.doctor(src, dst)

    def doctor_text(self, src: str, dst: str) -> str:
        """The doctor's verdict as ``vnet doctor`` prints it."""
        return self._inner.render_doctor(src, dst)

    def impair(self, node: str, iface: str, clear: bool = False, **conditions: str) -> Dict[str, Any]:
        """Change one interface's conditions live: ``impair("h1", "eth0", delay="20ms")``."""
        pairs = [(k, str(v)) for k, v in conditions.items()]
        return self._inner.impair(node, iface, pairs, clear)

    def _adopt(self, p: subprocess.Popen) -> None:
        with self._lock:
            self._procs.append(p)

    def down(self) -> None:
        """Kill what ``popen`` started, then remove the lab. Idempotent."""
        with self._lock:
            procs, self._procs = self._procs, []
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self._inner.down()

    def __enter__(self) -> "RunningLab":
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


class Node:
    """One node of a running lab, by its name in the lab file."""

    def __init__(self, lab: RunningLab, name: str) -> None:
        self._lab = lab
        self.name = name

    @property
    def netns(self) -> str:
        """The namespace's name under /run/netns."""
        return self._lab._inner.netns(self.name)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on a thread inside the node, as ``ip netns
        exec`` puts a program there. Sockets made there stay there."""
        return self._lab._inner.call_in(self.name, lambda: fn(*args, **kwargs))

    def run(self, args: Union[str, Sequence[str]], **kwargs: Any) -> "subprocess.CompletedProcess[Any]":
        """``subprocess.run`` inside the node, output captured unless
        ``stdout``/``stderr``/``capture_output`` say otherwise."""
        if not any(k in kwargs for k in ("stdout", "stderr", "capture_output")):
            kwargs["capture_output"] = True
        return self.call(subprocess.run, args, **kwargs)

    def popen(self, args: Union[str, Sequence[str]], **kwargs: Any) -> "subprocess.Popen[Any]":
        """``subprocess.Popen`` inside the node; killed at teardown."""
        p = self.call(subprocess.Popen, args, **kwargs)
        self._lab._adopt(p)
        return p


class Pair(dict):
    """One probe of the matrix: ``from``, ``to``, ``address``, ``reachable``,
    ``rtt_ms``, ``error``, ``sent``, ``received``, ``loss`` (also as
    attributes; ``from`` is ``p["from"]`` or ``p.src``)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self["from" if key == "src" else key]
        except KeyError:
            raise AttributeError(key) from None


class Matrix:
    """The reachability matrix (``vnet ping --all --json``)."""

    def __init__(self, report: Dict[str, Any]) -> None:
        self.report = report
        self.pairs: List[Pair] = [Pair(p) for p in report["pairs"]]
        self.ok: bool = report["ok"]
        self.all_reachable: bool = report["all_reachable"]
        self.expectations: List[Dict[str, Any]] = report["expectations"]

    def unreachable(self) -> Iterator[Pair]:
        return (p for p in self.pairs if not p["reachable"])

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        bad = [f'{p["from"]}→{p["to"]} ({p["address"]})' for p in self.unreachable()]
        return f"<Matrix ok={self.ok} pairs={len(self.pairs)} unreachable={bad}>"
