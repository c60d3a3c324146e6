"""The one HTTP client for URLs a tenant gave (journey webhooks, webhook steps, and any later
event subscription): a tenant chooses the URL, so the URL must not reach us.

- Only ``http``/``https``, no user info, ports 80, 443, 8080 and 8443 only (the ports
  webhook receivers use; nothing else of a public host is ours to reach).
- The host is resolved ONCE; the call is refused if ANY address is loopback, private
  (RFC 1918, IPv6 ULA), link-local (169.254.169.254 and fd00:ec2::254, the metadata
  service, included), multicast, unspecified, reserved, shared (100.64/10), or an
  IPv4-mapped / 6to4 / NAT64 / Teredo form of one. The connection goes to a checked
  address (no second lookup: DNS rebinding), with the right ``Host`` header and, for
  https, the certificate verified for the host name (SNI set to it).
- IP literals only in canonical form: ``http://2130706433/`` or ``0177.0.0.1`` is refused.
- No redirects: a 3xx is an answer like any other, never followed.
- Bounded: one deadline for connect + send + read (:data:`TOTAL_SECONDS`), and at most
  :data:`READ_MAX` bytes read, of which only the status code (and the announced length)
  come back. The body is not returned unless the caller asks for a ``preview`` (at most
  :data:`PREVIEW_MAX` bytes, control characters replaced): event subscriptions log the
  first bytes of their own endpoint's answer, as Stripe's dashboard does; the journey
  channel never asks.

The dev stack and tests serve receivers on 127.0.0.1: ``ENCLAVE_OUTBOUND_ALLOW_LOOPBACK=1``
(``allow_loopback``) allows loopback addresses (any port) and nothing else; the
infrastructure refuses to deploy that setting.
"""
from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

#: connect + send + read, in seconds
TOTAL_SECONDS = 4.0
#: bytes read from an answer (status line and headers; the rest is not read)
READ_MAX = 4096
PORTS = frozenset({80, 443, 8080, 8443})
USER_AGENT = "Enclave-Outbound/1"
#: the most of an answer's body a caller may keep (``post(preview=...)``)
PREVIEW_MAX = 256

#: ``resolve(host, port)`` -> the host's addresses (``socket.getaddrinfo`` by default)
Resolver = Callable[[str, int], list[str]]

_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(ValueError):
    """The URL or an address it resolves to may not be called (nothing was sent)."""


class Unreachable(OSError):
    """Nothing was delivered: the host did not resolve, or the connection failed."""


class NoAnswer(OSError):
    """The request may have arrived, but no (complete) answer came within the bounds."""


@dataclass(frozen=True)
class Answer:
    status: int
    #: the answer's ``Content-Length`` when it gave one
    length: int | None = None
    #: the body's first bytes as text, only when the caller asked for a preview
    preview: str = ""

    def summary(self) -> str:
        """What may be shown to a tenant: the status (and length), never the body."""
        return f"HTTP {self.status}" + (f" ({self.length} bytes)" if self.length is not None else "")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower case; IPv6 literals without brackets
    port: int
    path: str
    literal: _IPAddress | None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def address_problem(address: _IPAddress, allow_loopback: bool = False) -> str | None:
    """Why ``address`` may not be called, or None (see the module docstring)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            problem = address_problem(embedded, allow_loopback)
            return f"{problem} (embedded in {address})" if problem else None
        if allow_loopback and address.is_loopback:
            return None
    elif allow_loopback and address.is_loopback:
        return None
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (e.g. the metadata service)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "the unspecified address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64, Teredo), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def parse(url: str, allow_loopback: bool = False) -> Target:
    """The URL's parts, or :class:`Refused` saying what is wrong with it. An IP literal is
    checked here; a name only when it is resolved (:func:`post`)."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise Refused("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"not a URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise Refused("use an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise Refused("no user name or password in the URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise Refused("the URL has no host")
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise Refused("the host name is not valid") from exc
    literal = _literal(host)
    if literal is not None:
        problem = address_problem(literal, allow_loopback)
        if problem:
            raise Refused(f"the host is {problem}")
    port = port or (443 if parts.scheme == "https" else 80)
    if port not in PORTS and not (allow_loopback and literal is not None and literal.is_loopback):
        raise Refused(f"port {port} is not allowed (use one of {', '.join(map(str, sorted(PORTS)))})")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, literal)


def _literal(host: str) -> _IPAddress | None:
    """The address if ``host`` is an IP literal in canonical form; :class:`Refused` for the
    other spellings of one (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) that resolvers
    accept and readers misjudge."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        socket.inet_aton(host)
    except OSError:
        return None
    raise Refused("write an IP address in dotted decimal (or use a host name)")


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise Unreachable(f"{host} did not resolve") from exc
    return [str(info[4][0]) for info in infos]


def resolve_checked(target: Target, resolve: Resolver, allow_loopback: bool = False) -> list[_IPAddress]:
    """The target's addresses, asked once and checked all (one bad address refuses the
    call: which one a later connect would pick is not ours to choose)."""
    if target.literal is not None:
        return [target.literal]
    found: list[_IPAddress] = []
    for text in resolve(target.host, target.port):
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone
        except ValueError as exc:
            raise Refused(f"{target.host} resolved to something that is not an address") from exc
        problem = address_problem(address, allow_loopback)
        if problem:
            raise Refused(f"{target.host} resolves to {problem}")
        found.append(address)
    if not found:
        raise Unreachable(f"{target.host} has no address")
    return found


def post(url: str, body: bytes, headers: Mapping[str, str], *, allow_loopback: bool = False,
         resolve: Resolver | None = None, timeout: float = TOTAL_SECONDS, read_max: int = READ_MAX,
         tls: ssl.SSLContext | None = None, preview: int = 0) -> Answer:
    """POST ``body`` to ``url`` under the rules of the module docstring.

    Raises :class:`Refused` (nothing sent), :class:`Unreachable` (nothing delivered) or
    :class:`NoAnswer` (sent, no complete answer within ``timeout`` / ``read_max``). With
    ``preview`` > 0 the answer carries up to that many (<= :data:`PREVIEW_MAX`) bytes of
    its body, as text with control characters replaced."""
    target = parse(url, allow_loopback)
    deadline = time.monotonic() + timeout
    addresses = _within(deadline, lambda: resolve_checked(target, resolve or system_resolver, allow_loopback))
    sock = _connect(addresses, target.port, deadline)
    watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, (sock,))
    watchdog.daemon = True
    watchdog.start()
    try:
        if target.scheme == "https":
            context = tls or ssl.create_default_context()
            try:
                sock = context.wrap_socket(sock, server_hostname=target.host)
            except (ssl.SSLError, ssl.CertificateError) as exc:
                raise Unreachable(f"TLS with {target.host} failed: {exc}") from exc
            except OSError as exc:
                raise Unreachable(f"TLS with {target.host} did not complete: {exc}") from exc
        try:
            sock.sendall(_request(target, body, headers))
        except OSError as exc:
            raise NoAnswer(f"sending failed: {exc}") from exc
        return _read_answer(sock, read_max, min(max(preview, 0), PREVIEW_MAX))
    finally:
        watchdog.cancel()
        _close(sock)


def _within(deadline: float, work: Callable[[], list[_IPAddress]]) -> list[_IPAddress]:
    """``work()`` (the name lookup, which has no timeout of its own) within the deadline."""
    outcome: list[list[_IPAddress] | BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if not outcome:
        raise Unreachable("the host did not resolve in time")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _connect(addresses: Iterable[_IPAddress], port: int, deadline: float) -> socket.socket:
    error: OSError | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(remaining)
        try:
            sock.connect((str(address), port))
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise Unreachable(f"could not connect: {error or 'out of time'}")


def _request(target: Target, body: bytes, headers: Mapping[str, str]) -> bytes:
    fixed = {"Host": target.host_header, "Content-Length": str(len(body)), "Connection": "close"}
    given = {name: value for name, value in headers.items() if name.lower() not in {k.lower() for k in fixed}}
    given.setdefault("User-Agent", USER_AGENT)
    lines = [f"POST {target.path} HTTP/1.1"]
    for name, value in {**fixed, **given}.items():
        if any(c in "\r\n" for c in name + value):
            raise Refused(f"header {name!r} contains a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _read_answer(sock: socket.socket, read_max: int, preview: int = 0) -> Answer:
    """The status (and announced length, and ``preview`` bytes of the body) from at most
    ``read_max`` bytes."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < read_max:
        try:
            chunk = sock.recv(min(1024, read_max - len(data)))
        except OSError as exc:
            raise NoAnswer(f"no answer within {TOTAL_SECONDS:g} s") from exc
        if not chunk:
            break
        data += chunk
    head, ended, _ = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status_line = lines[0].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1.") or not (
            len(status_line[1]) == 3 and status_line[1].isdigit()):
        if not data:
            raise NoAnswer("the connection closed without an answer (or the time ran out)")
        raise NoAnswer("the answer is not HTTP/1.x")
    status = int(status_line[1])
    length = None
    for line in lines[1:] if ended else []:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    if not preview or not ended:
        return Answer(status, length)
    return Answer(status, length, _preview(sock, data.partition(b"\r\n\r\n")[2], preview, length))


def _preview(sock: socket.socket, start: bytes, want: int, length: int | None) -> str:
    """Up to ``want`` bytes of the body (what came with the headers, then more while the
    deadline allows), printable: control characters become U+FFFD."""
    body = start
    expected = want if length is None else min(want, length)
    while len(body) < expected:
        try:
            chunk = sock.recv(expected - len(body))
        except OSError:
            break
        if not chunk:
            break
        body += chunk
    text = body[:want].decode("utf-8", "replace")
    return "".join(c if c.isprintable() or c in " " else "\ufffd" for c in text)


def _cut(sock: socket.socket) -> None:
    """At the deadline: unblock whatever waits on the socket."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
