"""The one HTTP layer every call to an outside party goes through: feeds, the Bot API, MAX, 1C, LLM servers.

What an outside party answers, or where a user-supplied URL points, must not be able to hurt a worker:

- Where: a connection is opened only to an address that is on the public internet. The host is resolved here,
  every address it resolves to is checked, and the connection goes to a checked address, so a DNS answer that
  changes between check and connect (rebinding) gains nothing. Loopback, private (RFC 1918, unique-local),
  link-local (the cloud metadata service at 169.254.169.254), CGNAT, multicast, reserved and unspecified addresses
  are refused, IPv4-mapped and NAT64 forms included, unless the host (or host:port) is on the client's allowlist:
  `LONGRUN_OUTSIDE_HOSTS_ALLOWED` for everyone, plus the service a client was configured for (see `allowlist`).
  Every redirect hop is a new request through this transport, so it is checked the same way; redirects are bounded.
  A refusal says only "refused: address not allowed": the error a job shows must not tell ports or hosts apart.
- How much: a body is read as it streams, and refused once it passes the client's cap, counted on the wire and
  again unpacked, so a small gzip bomb is stopped at the cap, not after it fills memory. One content-coding at
  most (gzip or deflate, the only ones asked for): stacked codings (`gzip, gzip`) are how a 182-byte body unpacks
  to 20 MiB, and no real server needs them.

Refusals are `OutsideRefused`: permanent for the item that met them (the same URL will be refused again), never a
retry. They are not `httpx.HTTPError`s, so no client mistakes one for a dropped connection worth retrying.
"""

from __future__ import annotations

import ipaddress
import socket
import zlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx
from httpx._config import DEFAULT_LIMITS, create_ssl_context

from settings import Settings

# The codings this layer can unpack with a bounded output, and so the only ones it asks for.
ACCEPT_ENCODING = "gzip, deflate"
_IDENTITY = {"", "identity"}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Refused whatever they embed: IPv4-compatible addresses (::a.b.c.d, deprecated, some stacks still route them to
# the IPv4 host) and the local-use NAT64 prefix (RFC 8215), which translates to whatever the operator's gateway
# chooses, internal networks included. Not every Python's `is_global` knows them, so they are named here.
_ALWAYS_REFUSED = (ipaddress.ip_network("::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
DEFAULT_MAX_REDIRECTS = 5


class OutsideRefused(Exception):
    """An outside call this layer refused: permanent for what asked it."""

    permanent = True
    retry_after = None


class AddressRefused(OutsideRefused):
    def __init__(self) -> None:
        # The same words for every refused host, port and address: nothing here helps a scan.
        super().__init__("refused: address not allowed")


class BodyTooLarge(OutsideRefused):
    pass


class EncodingRefused(OutsideRefused):
    pass


# ----------------------------------------------------------------------------------------------------- addresses


def address_allowed(address: str) -> bool:
    """True for an address on the public internet; False for every kind of internal or special one."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a scoped IPv6 address carries its zone after %
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in _ALWAYS_REFUSED):
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_allowed(str(embedded))
    # is_global is False for loopback, RFC 1918, link-local, CGNAT (100.64/10), unique-local, unspecified, reserved
    # and documentation ranges; multicast is listed apart because parts of it count as global.
    return ip.is_global and not ip.is_multicast


def literal_internal_host(url: str) -> bool:
    """True when the URL's host is an IP address literal that `address_allowed` refuses (a save-time check: a
    name is only known to be internal once resolved, which the connect-time check does)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    if host is None:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.rstrip(".").lower() == "localhost"
    return not address_allowed(host)


@dataclass(frozen=True)
class Allowlist:
    """Hosts a client may reach whatever they resolve to: `host` (any port) or `host:port` (that port only)."""

    entries: frozenset[tuple[str, int | None]] = frozenset()

    @classmethod
    def of(cls, *specs: str | Iterable[str]) -> Allowlist:
        """From `host[:port]` strings, `[v6]:port`, or service URLs (their host and port); empty ones are skipped."""
        entries: set[tuple[str, int | None]] = set()
        for spec in specs:
            for item in [spec] if isinstance(spec, str) else spec:
                entry = _entry(item)
                if entry is not None:
                    entries.add(entry)
        return cls(frozenset(entries))

    def __add__(self, other: Allowlist) -> Allowlist:
        return Allowlist(self.entries | other.entries)

    def allows(self, host: str, port: int) -> bool:
        host = host.rstrip(".").lower()
        return (host, None) in self.entries or (host, port) in self.entries

    def allows_url(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.hostname is None:
            return False
        return self.allows(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def _entry(spec: str) -> tuple[str, int | None] | None:
    spec = spec.strip()
    if not spec:
        return None
    parts = urlsplit(spec if "://" in spec else f"//{spec}")
    if not parts.hostname:
        return None
    port = parts.port
    if port is None and "://" in spec:
        port = 443 if parts.scheme == "https" else 80
    return parts.hostname.rstrip(".").lower(), port


def allowed_hosts_setting(value: str) -> list[str]:
    """`LONGRUN_OUTSIDE_HOSTS_ALLOWED`: host[:port] entries separated by commas or spaces."""
    return [item for item in value.replace(",", " ").split() if item]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses."""

    def __init__(self, allowlist: Allowlist, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._allowlist = allowlist
        # httpcore also declares a placeholder AnyIOBackend, for when anyio is missing (it is a dependency here).
        self._inner: httpcore.AsyncNetworkBackend = inner or httpcore.AnyIOBackend()  # pyright: ignore[reportAttributeAccessIssue]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        kwargs = {"timeout": timeout, "local_address": local_address, "socket_options": socket_options}
        if self._allowlist.allows(host, port):
            return await self._inner.connect_tcp(host, port, **kwargs)
        addresses = await _resolve(host, port, timeout)
        # Every address must pass, not one: a name that also resolves inside is someone pointing it there.
        if not addresses or not all(address_allowed(a) for a in addresses):
            raise AddressRefused()
        failure: Exception | None = None
        for address in addresses:
            try:
                # The checked address itself: a second resolution could answer differently.
                return await self._inner.connect_tcp(address, port, **kwargs)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise AddressRefused()

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def _resolve(host: str, port: int, timeout: float | None) -> list[str]:  # noqa: ASYNC109
    try:
        with anyio.fail_after(timeout):
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        if sockaddr[0] not in seen:
            seen.append(str(sockaddr[0]))
    return seen


# ----------------------------------------------------------------------------------------------------- bodies


@dataclass(frozen=True)
class BodyCap:
    """The most a body may take, on the wire and unpacked (a compressed body is never legitimately larger than
    itself unpacked, so one number bounds both); `setting` names the knob in refusals."""

    max_bytes: int
    setting: str

    def refusal(self, what: str) -> BodyTooLarge:
        return BodyTooLarge(f"refused: the answer is larger {what} than {self.max_bytes} bytes ({self.setting})")


def _codings(header: str | None) -> list[str]:
    return [c.strip().lower() for c in (header or "").split(",") if c.strip().lower() not in _IDENTITY]


class _Unpacker:
    """One content-coding undone with a bounded output: zlib is never asked for more than the cap allows."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS)
        self._first = True

    def unpack(self, data: bytes, room: int) -> bytes:
        """At most `room + 1` bytes of output, so a caller sees that the cap was passed without unpacking more."""
        try:
            return self._zlib.decompress(data, room + 1)
        except zlib.error as exc:
            if self._coding == "deflate" and self._first:
                # "deflate" is zlib-wrapped by the standard and raw by some servers: retry raw, as browsers do.
                self._zlib, self._first = zlib.decompressobj(-zlib.MAX_WBITS), False
                return self.unpack(data, room)
            raise httpx.DecodingError(f"{self._coding} body does not unpack: {exc}") from exc
        finally:
            self._first = False


class CappedStream(httpx.AsyncByteStream):
    """The response body, unpacked, refused once the wire bytes or the unpacked bytes pass the cap."""

    def __init__(self, raw: httpx.AsyncByteStream, coding: str | None, cap: BodyCap) -> None:
        self._raw = raw
        self._unpacker = _Unpacker(coding) if coding else None
        self._cap = cap

    async def __aiter__(self) -> AsyncIterator[bytes]:
        wire = unpacked = 0
        async for chunk in self._raw:
            wire += len(chunk)
            if wire > self._cap.max_bytes:
                raise self._cap.refusal("on the wire")
            if self._unpacker is not None:
                chunk = self._unpacker.unpack(chunk, self._cap.max_bytes - unpacked)
            unpacked += len(chunk)
            if unpacked > self._cap.max_bytes:
                raise self._cap.refusal("unpacked")
            if chunk:
                yield chunk

    async def aclose(self) -> None:
        await self._raw.aclose()


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport on a `GuardedBackend`, whose answers stream through a `CappedStream`."""

    def __init__(self, allowlist: Allowlist, cap: BodyCap) -> None:
        # Not super().__init__(): httpx gives no way to choose the network backend, so the pool it would make (and
        # its SSL context, ~50 ms of CA bundle) is made here instead with the backend, on httpx's own defaults.
        # httpx's handle_async_request only needs `_pool` (checked against httpx 0.28-0.29).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=create_ssl_context(trust_env=False),
            max_connections=DEFAULT_LIMITS.max_connections,
            max_keepalive_connections=DEFAULT_LIMITS.max_keepalive_connections,
            keepalive_expiry=DEFAULT_LIMITS.keepalive_expiry,
            network_backend=GuardedBackend(allowlist),
        )
        self._cap = cap

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise AddressRefused()
        request.headers["Accept-Encoding"] = ACCEPT_ENCODING
        response = await super().handle_async_request(request)
        try:
            coding = self._coding(response)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._cap.max_bytes:
                raise self._cap.refusal("on the wire")
        except OutsideRefused:
            await response.aclose()
            raise
        # The body reaches httpx already unpacked: without Content-Encoding it is not unpacked a second time.
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
        if coding is not None:
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=CappedStream(response.stream, coding, self._cap),
            extensions=response.extensions,
        )

    @staticmethod
    def _coding(response: httpx.Response) -> str | None:
        codings = _codings(response.headers.get("content-encoding"))
        if len(codings) > 1:
            raise EncodingRefused(f"refused: stacked content-codings ({', '.join(codings)}); at most one is taken")
        if codings and codings[0] not in ("gzip", "x-gzip", "deflate"):
            raise EncodingRefused(f"refused: content-coding {codings[0]!r} was not asked for")
        return codings[0] if codings else None


def outside_client(
    allowlist: Allowlist,
    cap: BodyCap,
    *,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An httpx client whose every request, redirect hops included, goes through the guarded transport.
    `trust_env=False`: a proxy from the environment would move the connection this layer checks elsewhere."""
    return httpx.AsyncClient(
        transport=GuardedTransport(allowlist, cap), max_redirects=max_redirects, trust_env=False, **kwargs
    )


def shared_allowlist(settings: Settings) -> Allowlist:
    """What every outside client may reach besides public addresses: `LONGRUN_OUTSIDE_HOSTS_ALLOWED`."""
    return Allowlist.of(allowed_hosts_setting(settings.outside_hosts_allowed))


def service_allowlist(settings: Settings, service_url: str | None) -> Allowlist:
    """A configured service's client: the shared list and the service's own host:port. The operator chose that
    URL (1C usually lives on a private LAN), so it is reached wherever it is; what it answers is still capped."""
    return shared_allowlist(settings) + Allowlist.of(service_url or "")


INTERNAL_URL = (
    "must not point at an internal address (loopback, private, link-local, metadata...): outside calls refuse "
    "them unless the host is in LONGRUN_OUTSIDE_HOSTS_ALLOWED"
)


def internal_at_save(url: str | None, allowlist: Allowlist) -> bool:
    """A URL a user is saving that is sure to be refused: its host an internal IP literal (or `localhost`) that
    the allowlist does not name. Names that resolve inside are caught at connect, the check that holds."""
    return bool(url) and literal_internal_host(url) and not allowlist.allows_url(url)
