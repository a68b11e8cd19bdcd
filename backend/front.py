"""How people reach the REST API and the console: directly, or through a reverse proxy.

Behind a proxy every request arrives from the proxy's address. The address a sign-in is
throttled by (20 failures an address, `backend/auth/throttle.py`), the access log's client and
whether the browser came over https are then the proxy's `X-Forwarded-For` and
`X-Forwarded-Proto`, believed from the addresses in `trusted_proxies` only: from anyone else a
stranger would choose its own address, and with it whom the throttle counts. Left at loopback
while the proxy runs on another host, every sign-in shares the proxy's address: 20 wrong
guesses at made-up names locked every member of staff out for 15 minutes.

Never `*`: that believes the header from every client (docs/console.md, "Behind a proxy").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass(frozen=True)
class Front:
    """The proxies whose forwarded headers are believed, and the cookies' Secure flag (None:
    Secure exactly when the request came over https, as the proxy says)."""

    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    secure_cookies: bool | None = None

    def __post_init__(self) -> None:
        check_proxies(self.trusted_proxies)

    def http_server(
        self, app: Any, host: str, port: int, log_level: str = "info"
    ) -> uvicorn.Server:
        """The uvicorn server for `app`, believing the forwarded headers of these proxies only.

        Without a log config (uvicorn's own gives its loggers handlers and formats of their
        own), uvicorn's records reach the process's root handler: one line each
        (privacy/log_lines.py), an access line's client address included."""
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            log_config=None,
            lifespan="off",  # the service is started and stopped around the server
            proxy_headers=True,
            forwarded_allow_ips=list(self.trusted_proxies),
        )
        return uvicorn.Server(config)


def check_proxies(proxies: tuple[str, ...]) -> tuple[str, ...]:
    """Each an IP address or network (`10.0.8.0/24`); ValueError names the one that is not."""
    if len(proxies) > 64:
        raise ValueError("at most 64 trusted proxies")
    for proxy in proxies:
        if proxy.strip() == "*":
            raise ValueError("'*' would believe any client's X-Forwarded-For: name the proxies")
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ValueError(f"{proxy[:80]!r}: not an IP address or network") from None
    return proxies
