"""URL ingestion requests and the address policy every fetch obeys (server-side request forgery).

A URL is fetched by a worker on the operator's network, so a hostile URL could reach what the
internet cannot: ``http://169.254.169.254/`` (cloud credentials), ``http://localhost:6379`` (Redis),
an admin panel on ``10.0.0.5``. The policy resolves the host and refuses any private, loopback,
link-local, multicast or reserved address unless ``KBCHAT_INGEST__URL_ALLOWLIST`` names the host or
its network. The fetcher applies it again to every redirect and connects to the address it checked
(never resolving twice), so DNS rebinding cannot slip past it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy.orm import Session

from backend.db.models import Job
from backend.errors import InvalidInput
from backend.jobs.kinds import FETCH_URL_JOB
from backend.jobs.queue import enqueue

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_TRY_AGAIN = {socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None)} - {None}
"""getaddrinfo's answers for a resolver that failed for now (no answer, a timeout), not "no such name"."""


class NotResolvedYet(InvalidInput):
    """The name server did not answer (``EAI_AGAIN``): still a 422 to someone checking a URL now, but a
    fetcher treats it as the server being down, so a sync retries and a page keeps its document."""


@dataclass(frozen=True, slots=True)
class ResolvedUrl:
    url: str
    scheme: str
    host: str
    port: int
    address: str
    """The checked IP address to connect to."""

    def pinned_request(self, client: httpx.Client, method: str, **kwargs: Any) -> httpx.Request:
        """A request to the checked address, with the name kept in ``Host`` and TLS SNI, so virtual
        hosts and certificate checks work as usual and DNS cannot answer differently a second time."""
        netloc = f"[{self.address}]" if ":" in self.address else self.address
        pinned = urlunsplit(urlsplit(self.url)._replace(netloc=f"{netloc}:{self.port}"))
        default_port = {"http": 80, "https": 443}[self.scheme]
        host_header = self.host if self.port == default_port else f"{self.host}:{self.port}"
        headers = {**kwargs.pop("headers", {}), "Host": host_header}
        return client.build_request(
            method, pinned, headers=headers, extensions={"sni_hostname": self.host}, **kwargs
        )


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible
    (``::a.b.c.d``), NAT64 (``64:ff9b::/96``, ``64:ff9b:1::/48``), 6to4 (``2002::/16``) and Teredo
    (``2001::/32``: its server and its client). Empty for an IPv4 address or a plain IPv6 one."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if any(address in network for network in (*_NAT64, _IPV4_COMPATIBLE)):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


class UrlPolicy:
    def __init__(self, allowlist: Sequence[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in allowlist:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                self.hosts.add(entry.strip().lower().rstrip("."))

    def _allowed(self, host: str, address: IPAddress) -> bool:
        if host in self.hosts or any(address in network for network in self.networks):
            return True
        carried = embedded_ipv4(address)
        if carried:  # reached through a translator or tunnel: only as public as what it carries
            return all(self._allowed(host, inner) for inner in carried)
        return address.is_global and not address.is_multicast

    def resolve(self, url: str) -> ResolvedUrl:
        """Check ``url`` and pick the address to connect to; :class:`InvalidInput` says why not."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https"):
            raise InvalidInput(f"{url[:200]!r} is not an http(s) URL; give a full address like https://…")
        if not parts.hostname:
            raise InvalidInput(f"{url[:200]!r} has no host name")
        if parts.username or parts.password:
            raise InvalidInput("URLs with credentials in them are refused; make the page public instead")
        host = parts.hostname.lower().rstrip(".")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise InvalidInput(f"{url[:200]!r} has an invalid port") from None
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in _TRY_AGAIN:
                raise NotResolvedYet(
                    f"the host {host!r} could not be resolved just now ({exc}); try again shortly"
                ) from None
            raise InvalidInput(f"the host {host!r} could not be resolved ({exc}); check the URL") from None
        except UnicodeError as exc:
            raise InvalidInput(f"the host {host!r} could not be resolved ({exc}); check the URL") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))
        refused = [a for a in addresses if not self._allowed(host, a)]
        if refused:
            # All or nothing: a name that also points inside the network is not fetched at all.
            carried = embedded_ipv4(refused[0])
            via = f" (which carries {', '.join(map(str, carried))})" if carried else ""
            raise InvalidInput(
                f"{host} resolves to {refused[0]}{via}, a private, loopback or link-local address; such "
                "addresses are refused unless KBCHAT_INGEST__URL_ALLOWLIST names the host or its network"
            )
        return ResolvedUrl(url.strip(), parts.scheme, host, port, str(addresses[0]))


def request_fetch(
    session: Session,
    *,
    kb_id: str,
    url: str,
    policy: UrlPolicy,
    sitemap: bool | None,
    tags: list[str],
    max_attempts: int,
) -> Job:
    """Check the URL now (a clear 422 beats a failed job later), then queue the fetch."""
    policy.resolve(url)
    return enqueue(
        session,
        kind=FETCH_URL_JOB,
        kb_id=kb_id,
        payload={"url": url.strip(), "sitemap": sitemap, "tags": tags},
        max_attempts=max_attempts,
    )
