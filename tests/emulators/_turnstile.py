"""An interactive challenge widget like Cloudflare's Turnstile, strict like the real one.

The challenge page holds the widget's iframe inside a closed shadow root; the iframe
comes from the widget's own host (``challenges.cloudflare.com``, through the proxy like
any site), and its checkbox sits inside a closed shadow root of its own, so no script of
the page (or an extension, or an automation's ``querySelector``) can reach it. A token
is issued only for a click the browser marks trusted (``isTrusted``: real input, never
``element.click()`` or ``dispatchEvent``) that pointer movement inside the widget came
before. The widget posts the token to the page, which redeems it once for a clearance.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field

__all__ = ["WIDGET_HOST", "WIDGET_PATH", "Turnstile"]

WIDGET_HOST = "challenges.cloudflare.com"
WIDGET_PATH = "/cdn-cgi/challenge-platform/turnstile/if"
VERIFY_PATH = "/cdn-cgi/challenge-platform/turnstile/verify"
_MIN_MOVES = 2  # pointer moves over the widget before its click

# In the challenge page: the widget's iframe, in a closed shadow root; the token it posts
# is redeemed for the clearance, then the page reloads.
PAGE_SCRIPT = """<div id="turnstile-wrapper" style="margin:40px 0 0 40px"></div>
<script>
(function () {
  const root = document.getElementById("turnstile-wrapper").attachShadow({mode: "closed"});
  root.innerHTML = '<iframe src="https://%(host)s%(path)s?nonce=%(nonce)s" title="Widget"'
    + ' style="width:300px;height:65px;border:0"></iframe>';
  window.addEventListener("message", async function (event) {
    if (event.origin !== "https://%(host)s" || !event.data || !event.data.turnstile) return;
    const answer = await fetch("/cdn-cgi/challenge-platform/solve",
                               {method: "POST", body: event.data.turnstile});
    if (answer.ok) location.reload();
  });
})();
</script>"""

_WIDGET = """<!DOCTYPE html><html><head><title>Widget</title></head>
<body style="margin:0"><div id="w"></div>
<script>
(function () {
  const root = document.getElementById("w").attachShadow({mode: "closed"});
  root.innerHTML = '<label style="display:flex;align-items:center;height:65px;'
    + 'padding-left:16px;font:14px sans-serif"><input type="checkbox" id="cb" '
    + 'style="width:24px;height:24px;margin:0 8px 0 0"><span>Verify you are human</span>'
    + '</label>';
  const box = root.getElementById("cb");
  let moves = 0;
  document.addEventListener("pointermove", function (e) { if (e.isTrusted) moves++; }, true);
  box.addEventListener("click", async function (e) {
    e.preventDefault();  // ticked only once the token is issued
    const answer = await fetch("%(verify)s", {method: "POST", body: JSON.stringify(
      {nonce: %(nonce)s, trusted: e.isTrusted, moves: moves})});
    if (!answer.ok) return;
    const token = (await answer.json()).token;
    box.checked = true;
    parent.postMessage({turnstile: token}, "%(parent)s");
  });
})();
</script></body></html>"""


@dataclass
class Turnstile:
    """The widget's state: issued tokens (each redeemable once) and every click seen."""

    parent_origin: str  # the page the widget posts its token to
    never_issues: bool = False  # a challenge that never yields a token
    clicks: list[dict[str, object]] = field(default_factory=list)  # as the widget reported
    refused: list[str] = field(default_factory=list)  # why each refused click was refused
    _tokens: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def page_script(self) -> str:
        nonce = secrets.token_hex(8)
        return PAGE_SCRIPT % {"host": WIDGET_HOST, "path": WIDGET_PATH, "nonce": nonce}

    def widget(self, nonce: str) -> str:
        return _WIDGET % {
            "verify": VERIFY_PATH,
            "nonce": json.dumps(nonce),
            "parent": self.parent_origin,
        }

    def verify(self, body: bytes) -> str | None:
        """A token for the click the widget reported, or ``None`` (the refusal kept)."""
        try:
            report = json.loads(body)
        except ValueError:
            report = {}
        if not isinstance(report, dict):
            report = {}
        with self._lock:
            self.clicks.append(report)
            why = None
            if report.get("trusted") is not True:
                why = "untrusted click"
            elif not isinstance(report.get("moves"), int) or report["moves"] < _MIN_MOVES:
                why = "no pointer movement before the click"
            elif self.never_issues:
                why = "the challenge never yields"
            if why is not None:
                self.refused.append(why)
                return None
            token = "0." + secrets.token_urlsafe(48)
            self._tokens.add(token)
            return token

    def redeem(self, token: str) -> bool:
        """Whether ``token`` was issued and not redeemed yet (then it is used up)."""
        with self._lock:
            if token in self._tokens:
                self._tokens.discard(token)
                return True
            return False

    def reset(self) -> None:
        with self._lock:
            self.clicks.clear()
            self.refused.clear()
            self._tokens.clear()
            self.never_issues = False
