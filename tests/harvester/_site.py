"""A local test site that behaves like a protected AI playground.

``/site/``: an interstitial ("Just a moment...") whose script, after a delay, sets a
``clearance`` cookie bound to the user agent that solved it and reloads; user agents
containing ``HeadlessChrome`` get an interstitial that never clears. Past it, the app
page sets an HttpOnly ``sid`` cookie, embeds page tokens, and calls ``/site/api/ping``
with custom headers; the server records exactly what that call carried.
``/never/``: an interstitial that never clears.

Run directly (``python -m tests.harvester._site``) it serves until killed and prints
its base URL: the benchmark uses it that way.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import threading
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from client import HarvestRecipe, Ready, Token

INTERSTITIAL_TITLE = "Just a moment..."
CLEARANCE_MAX_AGE = 1800
SID_MAX_AGE = 3600
APP_VERSION = "1.2.3"

_INTERSTITIAL = """<!doctype html><html><head><title>Just a moment...</title></head>
<body><p>Checking your browser before accessing the site.</p>{script}</body></html>"""
_SOLVE = """<script>
setTimeout(function () {{
  document.cookie = "clearance={token}; path=/; max-age={max_age}; samesite=lax";
  location.reload();
}}, {delay});
</script>"""
_APP = """<!doctype html><html><head><title>Playground</title>
<script>window.__APP__ = {{token: "{token}"}};</script></head>
<body data-session-uuid="{uuid}"><h1>Playground</h1>
<script>
(async function () {{
  const ua = navigator.userAgentData;
  const high = await ua.getHighEntropyValues(["fullVersionList", "platform"]);
  const response = await fetch("/site/api/ping", {{
    method: "POST",
    headers: {{"content-type": "application/json", "x-app-version": "{version}"}},
    body: JSON.stringify({{brands: ua.brands, fullVersionList: high.fullVersionList,
                          platform: high.platform, userAgent: navigator.userAgent}}),
  }});
  if (response.ok) document.body.insertAdjacentHTML("beforeend", '<div id="app-ready"></div>');
}})();
</script></body></html>"""


@dataclass
class Ping:
    """One ``/site/api/ping`` call as the server received it."""

    headers: list[tuple[str, str]]
    body: dict[str, Any]


@dataclass
class SiteState:
    secret: str = field(default_factory=lambda: secrets.token_hex(8))
    solve_delay_ms: int = 300
    pings: list[Ping] = field(default_factory=list)
    sids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clearance_for(self, user_agent: str) -> str:
        return hashlib.sha256(f"{self.secret}|{user_agent}".encode()).hexdigest()[:32]


class Site:
    """The server on 127.0.0.1, port 0, in a background thread."""

    def __init__(self) -> None:
        self.state = SiteState()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self.state))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Site:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def recipes(self, *, timeout: float = 30.0) -> dict[str, HarvestRecipe]:
        """The test providers: ``site`` (passes) and ``never`` (stuck)."""
        return {
            "site": site_recipe(self.base, timeout=timeout),
            "never": never_recipe(self.base, timeout=timeout),
        }


def never_recipe(base: str, *, timeout: float) -> HarvestRecipe:
    return HarvestRecipe(
        start_url=f"{base}/never/", ready=Ready(title_not="Just a moment"), timeout=timeout
    )


def site_recipe(base: str, *, timeout: float = 30.0, lifetime: float = 3600) -> HarvestRecipe:
    return HarvestRecipe(
        start_url=f"{base}/site/",
        ready=Ready(title_not="Just a moment", selector="#app-ready"),
        capture=r"/site/api/ping$",
        tokens=(
            Token("app_token", regex=r'token: "([^"]+)"'),
            Token("session_uuid", js="document.body.dataset.sessionUuid"),
            Token("optional", js="window.notThere", required=False),
        ),
        lifetime=lifetime,
        expiry_cookie="clearance",
        timeout=timeout,
    )


def _handler_for(state: SiteState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.startswith("/never/"):
                self._send(403, _INTERSTITIAL.format(script=""))
            elif self.path.startswith("/site/"):
                self._site_page()
            else:
                self._send(404, "not found", content_type="text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not self.path.startswith("/site/api/ping"):
                self._send(404, "not found", content_type="text/plain")
                return
            cookies = self._cookies()
            if not self._cleared(cookies) or cookies.get("sid") not in state.sids:
                self._send(403, '{"error": "forbidden"}', content_type="application/json")
                return
            with state.lock:
                state.pings.append(Ping(list(self.headers.items()), json.loads(raw or b"{}")))
            self._send(200, '{"ok": true}', content_type="application/json")

        def _site_page(self) -> None:
            user_agent = self.headers.get("user-agent", "")
            cookies = self._cookies()
            if "HeadlessChrome" in user_agent:
                self._send(403, _INTERSTITIAL.format(script=""))  # never clears
                return
            if not self._cleared(cookies):
                script = _SOLVE.format(
                    token=state.clearance_for(user_agent),
                    max_age=CLEARANCE_MAX_AGE,
                    delay=state.solve_delay_ms,
                )
                self._send(403, _INTERSTITIAL.format(script=script))
                return
            sid = cookies.get("sid")
            extra = []
            if sid not in state.sids:
                sid = secrets.token_hex(12)
                with state.lock:
                    state.sids.add(sid)
                cookie = f"sid={sid}; Path=/; Max-Age={SID_MAX_AGE}; HttpOnly; SameSite=Lax"
                extra.append(("Set-Cookie", cookie))
            page = _APP.format(token=f"tok-{sid[:8]}", uuid=f"uuid-{sid[-8:]}", version=APP_VERSION)
            self._send(200, page, headers=extra)

        def _cookies(self) -> dict[str, str]:
            jar: SimpleCookie = SimpleCookie()
            jar.load(self.headers.get("cookie", ""))
            return {name: morsel.value for name, morsel in jar.items()}

        def _cleared(self, cookies: dict[str, str]) -> bool:
            expected = state.clearance_for(self.headers.get("user-agent", ""))
            return cookies.get("clearance") == expected

        def _send(
            self,
            status: int,
            body: str,
            *,
            content_type: str = "text/html; charset=utf-8",
            headers: list[tuple[str, str]] | None = None,
        ) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for name, value in headers or []:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


if __name__ == "__main__":
    site = Site().start()
    print(site.base, flush=True)
    try:
        site.thread.join()
    except KeyboardInterrupt:
        sys.exit(0)
