"""Fetch one URL safely: the address policy on every redirect, a pinned address, size and time limits.

httpx does the HTTP; we do redirects ourselves so each hop is checked before it is connected to,
and we connect to the IP address the policy approved (``Host`` header and TLS SNI still carry the
name, so virtual hosts and certificate checks work as usual).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from http.cookiejar import Cookie, CookieJar
from urllib.parse import urljoin, urlsplit

import httpx

from backend.catalog.urls import NotResolvedYet, ResolvedUrl, UrlPolicy
from backend.connectors.base import Fetched
from backend.errors import InvalidInput, PayloadTooLarge

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
RESOLVE_TTL_S = 60.0
USER_AGENT = "kbchat-ingest/1.0 (+https://github.com/kbchat/kbchat)"


Page = Fetched
"""One answer: the final URL after redirects, the content type, the bytes; ETag and Last-Modified for a
later conditional request; ``not_modified`` for a 304 (the connectors' type: backend.connectors.base)."""


class FetchError(Exception):
    """The server could not be reached or failed (5xx, timeout): worth another attempt later.
    Answers that will not change on retry (4xx, refused address, too large) raise InvalidInput."""


class SafeFetcher:
    def __init__(
        self, policy: UrlPolicy, *, max_bytes: int, timeout_s: float, client: httpx.Client | None = None
    ) -> None:
        self.policy, self.max_bytes, self.timeout_s = policy, max_bytes, timeout_s
        self._resolved: dict[str, tuple[ResolvedUrl, float]] = {}
        self._owns_client = client is None
        self.client = client or make_client(timeout_s)

    def get(self, url: str, *, headers: dict[str, str] | None = None, max_bytes: int | None = None) -> Page:
        """GET ``url``; ``headers`` such as If-None-Match make it conditional (a 304 comes back as a
        Page with ``not_modified``); ``max_bytes`` lowers the fetcher's size limit for this request."""
        deadline = time.monotonic() + self.timeout_s * (MAX_REDIRECTS + 1)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                resolved = self._resolve(url)
            except NotResolvedYet as exc:  # the resolver is down, not the name unknown: worth a retry
                raise FetchError(exc.message) from None
            request = resolved.pinned_request(self.client, "GET", headers=dict(headers or {}))
            try:
                response = self.client.send(request, stream=True)
            except httpx.TimeoutException:
                raise FetchError(f"{url} did not answer within {self.timeout_s:g} s") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{url} could not be fetched: {exc}") from None
            try:
                if response.status_code == 304 or response.is_redirect or response.status_code >= 400:
                    _drain(response)
                if response.status_code == 304:  # before is_redirect: httpx counts 304 among them
                    return Page(url, "", b"", *_validators(response), not_modified=True)
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    if not location:
                        raise InvalidInput(f"{url} redirects without a Location header")
                    url = urljoin(url, location)
                    log.debug("redirect to %s", url)
                    continue
                if response.status_code >= 500:
                    raise FetchError(f"{url} answered HTTP {response.status_code}")
                if response.status_code >= 400:
                    raise InvalidInput(f"{url} answered HTTP {response.status_code}; check that it is public")
                data = self._read(response, url, deadline, max_bytes or self.max_bytes)
                return Page(url, response.headers.get("content-type", ""), data, *_validators(response))
            finally:
                response.close()
        raise InvalidInput(f"{url} redirects more than {MAX_REDIRECTS} times")

    def _read(self, response: httpx.Response, url: str, deadline: float, limit: int) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(
                f"{url} is {int(declared):,} bytes; the limit is {limit:,} (KBCHAT_INGEST__URL_MAX_BYTES)"
            )
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"{url} is larger than {limit:,} bytes (KBCHAT_INGEST__URL_MAX_BYTES)")
            if time.monotonic() > deadline:
                raise FetchError(f"{url} took too long to download")
            chunks.append(chunk)
        return b"".join(chunks)

    def _resolve(self, url: str) -> ResolvedUrl:
        """The policy's check, its answer kept per origin for RESOLVE_TTL_S: a sync of a thousand pages
        on one site resolves the name once, not a thousand times, and still connects only to the
        address that was checked (a cached answer is as safe as the one it copies)."""
        parts = urlsplit(url.strip())
        key = f"{parts.scheme}://{parts.netloc.lower()}"
        now = time.monotonic()
        hit = self._resolved.get(key)
        if hit is not None and hit[1] > now:
            return replace(hit[0], url=url.strip())
        resolved = self.policy.resolve(url)
        self._resolved[key] = (resolved, now + RESOLVE_TTL_S)
        return resolved

    def close(self) -> None:
        """Close the HTTP client if this fetcher made it (a shared one belongs to whoever passed it)."""
        if self._owns_client:
            self.client.close()


class _NullJar(CookieJar):
    def set_cookie(self, cookie: Cookie) -> None:
        return None


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing: what a site sets is never sent back."""

    def __init__(self) -> None:
        super().__init__(_NullJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class CookielessClient(httpx.Client):
    """An httpx client that neither stores nor sends cookies (httpx has no switch for it: encode/httpx
    #2992; a property override keeps to its public ``cookies`` attribute).

    The fetcher's client is shared by every sync and URL fetch in the process, so a client that kept
    cookies would carry one tenant's session on a site into another tenant's requests to it, and a
    page could read differently depending on which source fetched first. Pages are fetched as an
    anonymous visitor sees them. It is cheaper too: httpx builds two ``urllib`` objects per response
    to look for cookies, about a tenth of a conditional request's CPU on loopback (docs/benchmarks.md).
    """

    _none = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._none

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("this client keeps no cookies")


def make_client(timeout_s: float) -> httpx.Client:
    """The fetcher's HTTP client: redirects handled by the fetcher (each hop checked), our User-Agent,
    no cookies (:class:`CookielessClient`)."""
    return CookielessClient(
        timeout=httpx.Timeout(timeout_s), follow_redirects=False, headers={"User-Agent": USER_AGENT}
    )


DRAIN_BYTES = 64 * 1024


def _drain(response: httpx.Response) -> None:
    """Read a small answer's body (a 304, a redirect, an error page) so its connection goes back to the
    pool: httpx closes a connection whose response was left unread, and a sync of a thousand unchanged
    pages would open a thousand connections. A larger body is left unread (the connection closes)."""
    declared = response.headers.get("content-length")
    if declared is None or not declared.isdigit() or int(declared) > DRAIN_BYTES:
        return
    for _ in response.iter_raw():  # raw: nothing to decode in what is thrown away
        pass


def _validators(response: httpx.Response) -> tuple[str | None, str | None]:
    """The ETag and Last-Modified a later conditional request sends back (bounded: stored in the DB)."""
    etag, modified = response.headers.get("etag"), response.headers.get("last-modified")
    return (etag if etag and len(etag) <= 200 else None), (
        modified if modified and len(modified) <= 100 else None
    )
