"""Wiring by name: app.py connects capabilities without importing them (cold start).

Every Lambda function is a handler in app.py, so whatever app.py imports, every function's
cold start pays (ADR 0020). Receivers and providers are therefore named, ``"module:attr"``,
and imported when first needed::

    wiring.connect("chalicelib.members.service:MEMBER_ERASING", "chalicelib.tiers.service:forget_member")
    tenancy.register_api_key_verifier(wiring.ref("chalicelib.tenants.service:verify_api_key"))

A :class:`~core.signals.Signal` or :class:`~core.participants.Join` pulls the connections
naming it (:func:`resolve`) the first time its receivers are read, i.e. when it is staged,
delivered or sent; the declaring module is necessarily imported by then. The outbox
sweeper meets signal names whose module no one imported yet: :func:`import_sources`.

This module imports nothing but the standard library: app.py imports it.
"""
from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_lock = threading.RLock()


def load(target: str) -> Any:
    """The object named ``"package.module:attr"`` (imported now if need be)."""
    module, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"name an attribute: {target!r} is not 'module:attr'")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Ref:
    """A callable that imports its target on the first call and then is it."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._resolved: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._resolved is None:
            self._resolved = load(self.target)
        return self._resolved(*args, **kwargs)

    def __repr__(self) -> str:
        return f"ref({self.target!r})"


_REFS: list[Ref] = []


def ref(target: str) -> Ref:
    made = Ref(target)
    with _lock:
        _REFS.append(made)
    return made


_PROVIDERS: dict[str, Ref] = {}


def provide(slot: str, target: str) -> None:
    """Name what fills a core module's slot (``"tenancy.api_key_verifier"``); the core
    module asks :func:`provided` when nothing was registered directly."""
    with _lock:
        _PROVIDERS[slot] = ref(target)


def provided(slot: str) -> Ref | None:
    return _PROVIDERS.get(slot)


@dataclass
class _Connection:
    source: str            # "module:ATTR" of a Signal or Join
    receiver: str          # "module:attr" of the receiver / participant
    #: "module:attr" of a factory called with the signal's name, giving its ``wants``
    wants: str | None
    #: "module:attr" of the receiver's ``wants(tenant_id, data)`` predicate itself
    accepts: str | None = None
    #: the receiver also gets history (core.signals.history)
    history: bool = False
    done: bool = False


_CONNECTIONS: list[_Connection] = []
#: bumped on every connect: a signal resolved before a later connect resolves again
generation = 0


def connect(source: str, receiver: str, *, wants: str | None = None, accepts: str | None = None,
            history: bool = False) -> None:
    """Connect ``receiver`` to the Signal/Join named ``source`` when that is first used.

    ``wants`` names a factory called with the signal's name that gives the receiver's
    ``wants(tenant_id, data)``; ``accepts`` names that predicate itself. ``history``: the
    receiver also gets signals staged as history (core.signals.history: imports)."""
    if wants and accepts:
        raise ValueError("name either wants (a factory) or accepts (the predicate), not both")
    global generation
    load_module, _, attr = source.partition(":")
    if not load_module or not attr or ":" not in receiver:
        raise ValueError(f"name both as 'module:attr': {source!r}, {receiver!r}")
    with _lock:
        _CONNECTIONS.append(_Connection(source, receiver, wants, accepts, history))
        generation += 1


def resolve(target: Any) -> None:
    """Connect to ``target`` (a Signal or Join) every pending connection naming it, in
    the order they were made (receivers run in that order).

    A connection's source module is imported by the time its Signal is used (the Signal
    lives there), so only connections whose module is already in ``sys.modules`` can name
    it: nothing is imported to find out. Receivers are imported outside the lock (an
    import may wait on another thread's import)."""
    import sys

    def names_target(conn: _Connection) -> bool:
        module, _, attr = conn.source.partition(":")
        owner = sys.modules.get(module)
        return owner is not None and getattr(owner, attr, None) is target

    with _lock:
        pending = [conn for conn in _CONNECTIONS if not conn.done and names_target(conn)]
    loaded = [(conn, load(conn.receiver),
               load(conn.wants)(target.name) if conn.wants else load(conn.accepts) if conn.accepts else None)
              for conn in pending]
    with _lock:
        for conn, receiver, wants in loaded:
            if conn.done:
                continue  # another thread connected it meanwhile
            if conn.history:
                target.attach(receiver, wants=wants, history=True)  # Signals only (Joins take no history)
            elif wants is not None:
                target.attach(receiver, wants=wants)
            else:
                target.attach(receiver)
            conn.done = True


def import_sources() -> None:
    """Import every module that declares a connected Signal/Join (the outbox sweeper
    delivers signals of any capability)."""
    with _lock:
        modules = {conn.source.partition(":")[0] for conn in _CONNECTIONS}
    for module in sorted(modules):
        importlib.import_module(module)


def import_all() -> None:
    """Import every module named here (sources, receivers, refs)."""
    for name in dict.fromkeys(targets()):
        load(name)


def targets() -> list[str]:
    """Every name connected or referenced, for tests that check each one resolves."""
    with _lock:
        names = [conn.source for conn in _CONNECTIONS] + [conn.receiver for conn in _CONNECTIONS]
        return (names + [conn.wants for conn in _CONNECTIONS if conn.wants]
                + [conn.accepts for conn in _CONNECTIONS if conn.accepts] + [r.target for r in _REFS])
