"""core.outbound, the client for tenant URLs: what it refuses (before anything is sent),
that it resolves once and connects to the checked address, sends the right Host, follows
no redirect, and stops a slow or huge answer within its bounds. The servers here are tiny
sockets on 127.0.0.1 inside the test (``allow_loopback``); no other server is needed."""
from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from chalicelib.core import outbound

PUBLIC = "93.184.216.34"


def resolver(*answers: list[str]) -> tuple[Callable[[str, int], list[str]], list[tuple[str, int]]]:
    """A resolver that answers ``answers[n]`` on its n-th call, and the calls it got."""
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return answers[min(len(calls), len(answers)) - 1]

    return resolve, calls


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/hook", "https://192.168.1.10/hook", "https://172.16.0.1/", "http://[::1]/",
    "http://[fd00::1]/", "http://0.0.0.0/", "http://127.0.0.1/", "https://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/", "http://100.64.0.1/", "http://224.0.0.1/", "http://240.0.0.1/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:169.254.169.254]/", "http://[2002:a9fe:a9fe::]/",
    "http://[64:ff9b::a9fe:a9fe]/", "http://[fe80::1]/", "http://[ff02::1]/", "http://[::]/",
    "http://2130706433/", "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://127.1/",
    "ftp://hooks.brand.example/", "file:///etc/passwd", "gopher://hooks.brand.example/",
    "https://user:pass@hooks.brand.example/", "https://hooks.brand.example:22/", "https://hooks.brand.example:6379/",
    "https://hooks.brand.example/a b", "https://hooks.brand.example/\r\nX-Injected: 1", "https:///nohost",
])
def test_refused_before_anything_is_resolved_or_sent(url: str) -> None:
    resolve, calls = resolver([PUBLIC])
    with pytest.raises(outbound.Refused):
        outbound.post(url, b"{}", {}, resolve=resolve)
    assert calls == []


def test_loopback_allowance_covers_loopback_only() -> None:
    assert outbound.parse("http://127.0.0.1:9000/h", allow_loopback=True).port == 9000
    assert outbound.parse("http://[::1]:9000/h", allow_loopback=True).host_header == "[::1]:9000"
    for url in ("http://10.0.0.1/", "http://169.254.169.254/", "http://[fd00::1]/", "http://2130706433/"):
        with pytest.raises(outbound.Refused):
            outbound.parse(url, allow_loopback=True)


@pytest.mark.parametrize("answer", [["169.254.169.254"], ["fd00:ec2::254"], [PUBLIC, "10.1.2.3"],
                                    ["127.0.0.1"], ["::ffff:10.0.0.1"], ["100.100.100.200"]])
def test_a_name_resolving_to_any_forbidden_address_is_refused(answer: list[str], monkeypatch) -> None:
    resolve, calls = resolver(answer)
    connects: list[object] = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: connects.append(addr))
    with pytest.raises(outbound.Refused, match="hooks.brand.example resolves to"):
        outbound.post("https://hooks.brand.example/hook", b"{}", {}, resolve=resolve)
    assert calls == [("hooks.brand.example", 443)] and connects == []


def test_the_system_resolver_is_asked_too(monkeypatch) -> None:
    """Without an injected resolver, socket.getaddrinfo answers (here: the metadata address)."""
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, **kw: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))])
    with pytest.raises(outbound.Refused, match="link-local"):
        outbound.post("https://metadata.brand.example/", b"{}", {})


def test_resolved_once_and_connected_to_the_checked_address(monkeypatch) -> None:
    """A rebinding resolver (public first, loopback after) is asked once; the connection
    goes to the public address it checked."""
    resolve, calls = resolver([PUBLIC], ["127.0.0.1"])
    connects: list[object] = []

    def refuse(self: socket.socket, addr: object) -> None:
        connects.append(addr)
        raise ConnectionRefusedError("not listening")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(outbound.Unreachable):
        outbound.post("https://hooks.brand.example/hook", b"{}", {}, resolve=resolve)
    assert calls == [("hooks.brand.example", 443)]
    assert connects == [(PUBLIC, 443)]


def test_a_slow_name_lookup_counts_against_the_deadline() -> None:
    def slow(host: str, port: int) -> list[str]:
        time.sleep(3)
        return [PUBLIC]

    started = time.monotonic()
    with pytest.raises(outbound.Unreachable, match="in time"):
        outbound.post("https://hooks.brand.example/", b"{}", {}, resolve=slow, timeout=0.5)
    assert time.monotonic() - started < 1.0


def test_address_problem_names_each_kind() -> None:
    problem = outbound.address_problem
    ip = ipaddress.ip_address
    assert problem(ip(PUBLIC)) is None and problem(ip("2606:4700::1111")) is None
    assert "link-local" in (problem(ip("169.254.169.254")) or "")
    assert "shared" in (problem(ip("100.64.0.1")) or "")
    assert "multicast" in (problem(ip("239.1.1.1")) or "")
    assert "private" in (problem(ip("fd00::1")) or "")
    assert problem(ip("2002:0a00:0001::")) and problem(ip("64:ff9b::127.0.0.1"))
    assert problem(ip("2001:0:4136:e378:8000:63bf:f5ff:fffe"))  # Teredo, its client being 10.0.0.1
    assert problem(ip("127.0.0.1"), allow_loopback=True) is None and problem(ip("10.0.0.1"), allow_loopback=True)


# -- against a socket server on 127.0.0.1 ---------------------------------------------------------------

class Server:
    def __init__(self, respond: Callable[[socket.socket, bytes], None]) -> None:
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks?x=1"
        self.respond = respond
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(4096)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += conn.recv(4096)
                self.requests.append(data)
                try:
                    self.respond(conn, data)
                except OSError:
                    pass


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket, bytes], None]], Server]]:
    servers: list[Server] = []

    def start(respond: Callable[[socket.socket, bytes], None]) -> Server:
        servers.append(Server(respond))
        return servers[-1]

    yield start
    for s in servers:
        s.sock.close()


def test_a_redirect_is_an_answer_not_followed(serve) -> None:
    target = serve(lambda conn, _: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    redirect = serve(lambda conn, _: conn.sendall(
        f"HTTP/1.1 302 Found\r\nLocation: {target.url}\r\nContent-Length: 0\r\n\r\n".encode()))
    answer = outbound.post(redirect.url, b'{"a":1}', {"X-Test": "1"}, allow_loopback=True)
    assert answer.status == 302 and target.requests == []
    head = redirect.requests[0]
    port = redirect.url.split(":")[2].split("/")[0]
    assert head.startswith(b"POST /hooks?x=1 HTTP/1.1\r\n") and f"Host: 127.0.0.1:{port}\r\n".encode() in head
    assert b"X-Test: 1\r\n" in head and head.endswith(b'{"a":1}')


def test_the_host_header_names_the_host_while_the_connection_goes_to_its_address(serve, monkeypatch) -> None:
    server = serve(lambda conn, _: conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n"))
    port = int(server.url.split(":")[2].split("/")[0])
    resolve, calls = resolver(["127.0.0.1"])
    url = f"http://hooks.brand.example:{port}/h"
    with pytest.raises(outbound.Refused, match="port"):  # a name gets no port beyond PORTS, loopback or not
        outbound.post(url, b"", {}, allow_loopback=True, resolve=resolve)
    monkeypatch.setattr(outbound, "PORTS", frozenset({port}))
    answer = outbound.post(url, b"", {}, allow_loopback=True, resolve=resolve)
    assert answer.status == 204 and calls == [("hooks.brand.example", port)]
    assert f"Host: hooks.brand.example:{port}\r\n".encode() in server.requests[0]


def test_the_answer_gives_status_and_length_never_the_body(serve) -> None:
    server = serve(lambda conn, _: conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\nsecret internal answer body"))
    answer = outbound.post(server.url, b"{}", {}, allow_loopback=True)
    assert answer == outbound.Answer(200, 27)
    assert answer.summary() == "HTTP 200 (27 bytes)" and "secret" not in repr(answer)


def test_a_preview_is_given_only_when_asked_bounded_and_printable(serve) -> None:
    body = b"ok\x1b[31m" + b"x" * 1000
    server = serve(lambda conn, _: conn.sendall(
        b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % len(body) + body))
    assert outbound.post(server.url, b"{}", {}, allow_loopback=True).preview == ""
    answer = outbound.post(server.url, b"{}", {}, allow_loopback=True, preview=10_000)
    assert answer.status == 500 and len(answer.preview) == outbound.PREVIEW_MAX
    assert answer.preview.startswith("ok\ufffd[31mxxx") and answer.preview.isprintable()


def test_a_huge_answer_is_read_only_up_to_the_bound(serve) -> None:
    sent: list[int] = []

    def flood(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 100)
        total = 0
        try:
            while total < 50_000_000:
                conn.sendall(b"a" * 65536)
                total += 65536
        finally:
            sent.append(total)

    server = serve(flood)
    started = time.monotonic()
    answer = outbound.post(server.url, b"{}", {}, allow_loopback=True, timeout=3)
    assert answer.status == 200 and time.monotonic() - started < 3.5
    # the client stopped reading after READ_MAX bytes and closed: the server could not push 50 MB
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sent and sent[0] < 50_000_000


def test_a_slow_answer_is_cut_off_at_the_deadline(serve) -> None:
    def drip(conn: socket.socket, _: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(100):  # one header byte every 0.1 s: each read is quick, the whole is not
            conn.sendall(b"X")
            time.sleep(0.1)

    def silent(conn: socket.socket, _: bytes) -> None:
        time.sleep(5)

    for respond, bound in ((drip, 1.0), (silent, 1.0)):
        server = serve(respond)
        started = time.monotonic()
        try:
            outbound.post(server.url, b"{}", {}, allow_loopback=True, timeout=bound)
        except outbound.NoAnswer:
            pass
        assert time.monotonic() - started < bound + 0.5
    with pytest.raises(outbound.NoAnswer):
        outbound.post(serve(silent).url, b"{}", {}, allow_loopback=True, timeout=0.5)
