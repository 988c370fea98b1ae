"""The only module that imports nodriver: a Chromium we launch, driven over CDP.

We start Chromium ourselves rather than through ``nodriver.start()``: with a
parent-death signal and its own process group, no Chromium outlives us, even when we
are SIGKILLed. nodriver then connects to it by host and port and speaks CDP. Each
harvest gets a ``Page`` in its own browser context (separate cookies and storage).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
from nodriver import cdp
from nodriver.core.connection import Connection, ProtocolException

from client import shorten
from fingerprint import Fingerprint
from storage import Cookie, pid_alive

from ._display import SCREEN, VirtualDisplay
from ._errors import BrowserFailed, BrowserNotFound, HarvestError, PageError
from ._process import die_with_parent

__all__ = [
    "Box",
    "BrowserExited",
    "BrowserInfo",
    "Chromium",
    "Page",
    "PageChanged",
    "PageEvent",
    "RequestHeaders",
    "RequestSent",
    "find_chromium",
]

logger = logging.getLogger(__name__)

# A mouse, as a desktop has: the pointer types are Blink's bit flags (fine = 4), the
# hover types its enum (hover = 2).
_MOUSE = (
    "--blink-settings=primaryPointerType=4,availablePointerTypes=4,"
    "primaryHoverType=2,availableHoverTypes=2"
)

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Flags for a browser on a closed network: no calls home, no updates, no QUIC (a UDP
# path our CONNECT proxies cannot carry), no first-run UI; and no automation flag on the
# page (navigator.webdriver is false, as in a browser someone uses).
_BASE_FLAGS = (
    "--disable-blink-features=AutomationControlled",
    "--remote-debugging-port=0",
    "--remote-debugging-address=127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--lang=en-US",
    "--window-size=1366,768",
)
PROFILE_PREFIX = "session-harvest-chromium-"  # then the harvester's pid and "-"
# Chromium's own TMPDIR, one per browser, named after its profile ("shc-PID-XXXXXXXX"):
# its singleton socket goes in $TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket, a
# Unix socket path of at most 107 bytes, so the directory must have a short path.
_TEMP_PREFIX = "shc-"
_SOCKET_PATH_MAX = 107
_SOCKET_TAIL = len("/shc-4194304-xxxxxxxx/org.chromium.Chromium.XXXXXX/SingletonSocket")
_HIGH_ENTROPY_HINTS = (
    "architecture",
    "bitness",
    "brands",
    "fullVersionList",
    "mobile",
    "model",
    "platform",
    "platformVersion",
    "wow64",
    "formFactors",
)


def find_chromium(configured: str | os.PathLike[str] | None = None) -> Path:
    """The Chromium to run: ``configured`` if given, else the first known name on PATH."""
    if configured is not None:
        path = Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BrowserNotFound(
            f"the configured browser {str(path)!r} is not an executable file; "
            "fix [browser] executable in the config file"
        )
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    raise BrowserNotFound(
        f"no Chromium found on PATH (looked for {', '.join(CHROMIUM_NAMES)}); install one "
        "(Debian/Ubuntu: `apt-get install chromium`, or `make install` as root) or set "
        "[browser] executable in the config file"
    )


@dataclass(frozen=True)
class BrowserInfo:
    """What a harvest records about the browser, read once per launch."""

    product: str  # e.g. "Chrome/156.0.8078.79"
    version: str  # e.g. "156.0.8078.79"
    user_agent: str  # the user agent with "HeadlessChrome" replaced
    metadata: Mapping[str, Any]  # CDP userAgentMetadata: brands, full version list, ...

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


# -- events a page reports, in our own terms (callers never see nodriver's types) ----


@dataclass(frozen=True)
class RequestSent:
    """The page is about to send a request (``Network.requestWillBeSent``)."""

    request_id: str
    url: str
    resource_type: str  # "Document", "Fetch", "XHR", ...


@dataclass(frozen=True)
class RequestHeaders:
    """The headers a request really carried (``Network.requestWillBeSentExtraInfo``)."""

    request_id: str
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PageChanged:
    """Something that may have changed the page: a load, a navigation, a response."""


@dataclass(frozen=True)
class BrowserExited:
    """The Chromium process is gone."""

    returncode: int | None


PageEvent = RequestSent | RequestHeaders | PageChanged | BrowserExited


@dataclass(frozen=True)
class Box:
    """A rectangle in the page's viewport, in CSS pixels."""

    x: float
    y: float
    width: float
    height: float


class Chromium:
    """One running Chromium over CDP: launched by us (``launch``), or someone else's
    that we attach to (``attach``: never stopped by us, only our contexts closed)."""

    def __init__(
        self,
        process: asyncio.subprocess.Process | None,
        profile: Path | None,
        connection: Connection,
        display: VirtualDisplay | None = None,
        *,
        remote: str | None = None,
    ) -> None:
        self.process = process  # None for a browser we attached to
        self.profile = profile
        self.display = display  # the Xvfb we started for it, headful with no DISPLAY
        self.remote = remote  # where an attached browser is (no secret: scheme, host, port)
        self.info: BrowserInfo | None = None
        self.fingerprint: Fingerprint | None = None  # captured by the harvester at start
        self._connection = connection
        self._pages: set[Page] = set()
        self._closed = False
        self._exit_listeners: list[Callable[[BrowserExited], None]] = []
        self._watcher: asyncio.Task[None] | None = None
        if process is not None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(process))

    @classmethod
    async def launch(
        cls,
        executable: Path,
        *,
        headless: bool = True,
        args: Sequence[str] = (),
        start_within: float = 30.0,
    ) -> Chromium:
        """Start Chromium and connect; raises ``BrowserFailed`` with its last log lines.
        Headful on a machine with no display, it gets an Xvfb of its own."""
        profile = await anyio.to_thread.run_sync(_new_profile_dir)
        display: VirtualDisplay | None = None
        try:
            temp = await anyio.to_thread.run_sync(_new_temp_dir, profile)
            if not headless and not os.environ.get("DISPLAY"):
                display = await VirtualDisplay.start(profile)
        except BaseException:
            await anyio.to_thread.run_sync(_remove_profile, profile)
            raise
        flags = [*_BASE_FLAGS, f"--user-data-dir={profile}"]
        # What a page sees of the screen, the pointer and WebGL is the same either way:
        # headless reports an 800x600 screen behind a larger window unless told, and no
        # mouse (`(hover: none)`, `(pointer: none)`: CDP's media emulation cannot change
        # those, Blink's settings can); headful on Xvfb has no GPU, so WebGL would be
        # missing without SwiftShader (headless's own).
        if headless:
            width, height = SCREEN
            flags += ["--headless", f"--screen-info={{{width}x{height}}}", _MOUSE]
        elif display is not None:
            flags.append("--enable-unsafe-swiftshader")
        if os.geteuid() == 0:
            flags.append("--no-sandbox")  # Chromium refuses to run as root with it
        flags.extend(args)
        flags.append("about:blank")  # chrome://newtab redirects under the first evaluate
        # Its temporary files die with its profile, even after a SIGKILL.
        env = {**os.environ, "TMPDIR": str(temp)}
        if display is not None:
            env["DISPLAY"] = display.name
        log = await anyio.to_thread.run_sync(_open_log, profile)
        parent = os.getpid()
        try:
            process = await asyncio.create_subprocess_exec(
                str(executable),
                *flags,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=lambda: die_with_parent(parent),
                env=env,
            )
        except OSError as exc:
            with anyio.CancelScope(shield=True):
                if display is not None:
                    await display.close()
                await anyio.to_thread.run_sync(_remove_profile, profile)
            raise BrowserFailed(f"could not run {executable}: {exc.strerror}") from exc
        finally:
            log.close()
        try:
            with anyio.fail_after(start_within):
                url = await _devtools_url(profile, process)
            connection = Connection()
            connection.websocket_url = url
            browser = cls(process, profile, connection, display)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                tail = await anyio.to_thread.run_sync(_log_tail, profile)
                await _kill(process)
                if display is not None:
                    await display.close()
                await anyio.to_thread.run_sync(_remove_profile, profile)
            if isinstance(exc, TimeoutError):
                raise BrowserFailed(
                    f"Chromium did not open its debugging port within {start_within:.0f}s{tail}"
                ) from exc
            raise
        try:
            browser.info = await browser._read_info()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await browser.close()
            raise
        return browser

    @classmethod
    async def attach(cls, url: str, *, within: float = 30.0) -> Chromium:
        """Attach to a running Chromium at ``url`` (``http://host:port``, whose
        ``/json/version`` names its websocket, or that ``ws://`` URL itself)."""
        shown = _shown_url(url)
        try:
            with anyio.fail_after(within):
                websocket = await _browser_websocket(url, shown)
        except TimeoutError:
            raise BrowserFailed(
                f"the browser at {shown} did not answer within {within:g}s"
            ) from None
        connection = Connection()
        connection.websocket_url = websocket
        browser = cls(None, None, connection, remote=shown)
        try:
            with anyio.fail_after(within):
                browser.info = await browser._read_info()
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await browser.close()
            if isinstance(exc, TimeoutError | BrowserFailed | OSError):
                raise BrowserFailed(
                    f"could not attach to the browser at {shown}: {exc or 'no answer'}"
                ) from None
            raise
        # nodriver's reader task ends when the websocket closes: the browser went away
        # (it has no public event for that).
        listener = connection._listener_task
        if listener is not None:
            browser._watcher = asyncio.get_running_loop().create_task(
                browser._watch_remote(listener)
            )
        return browser

    @property
    def pid(self) -> int:
        """The process we launched (0 for a browser we attached to)."""
        return self.process.pid if self.process is not None else 0

    @property
    def name(self) -> str:
        """How logs and errors call it."""
        return (
            f"Chromium at {self.remote}" if self.process is None else f"Chromium (pid {self.pid})"
        )

    @property
    def alive(self) -> bool:
        if self._closed:
            return False
        if self.process is not None:
            return self.process.returncode is None
        socket = self._connection.socket
        return socket is not None and socket.close_code is None

    def on_exit(self, callback: Callable[[BrowserExited], None]) -> Callable[[], None]:
        """Call ``callback`` when the process ends; returns a function that unsubscribes."""
        self._exit_listeners.append(callback)
        return lambda: self._exit_listeners.remove(callback)

    async def new_page(self, *, proxy: str | None = None) -> Page:
        """A blank tab in a new, isolated browser context (through ``proxy`` if given)."""
        context = await self.send(
            cdp.target.create_browser_context(dispose_on_detach=True, proxy_server=proxy)
        )
        try:
            target = await self.send(
                cdp.target.create_target("about:blank", browser_context_id=context)
            )
            connection = Connection(target=target, parent=self._connection)
            page = Page(self, connection, context)
            await page.start()
        except BaseException as exc:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self.send(cdp.target.dispose_browser_context(context))
            if isinstance(exc, Exception) and not isinstance(exc, HarvestError) and not self.alive:
                raise _exited(self) from exc
            raise
        self._pages.add(page)
        return page

    async def send(self, command: Any) -> Any:
        """Send one browser-level CDP command; errors become ``BrowserFailed``/``PageError``."""
        return await _send(self, self._connection, command)

    async def close(self) -> None:
        """Close every page and the browser; returns once no process of it is left.
        A browser we attached to keeps running: only our pages and contexts go."""
        if self._closed:
            return
        self._closed = True
        process = self.process
        with anyio.CancelScope(shield=True):
            for page in list(self._pages):
                await page.close()
            if process is not None and process.returncode is None:
                with anyio.move_on_after(3), contextlib.suppress(Exception):
                    await self._connection.send(cdp.browser.close())
            with contextlib.suppress(Exception):
                await self._connection.aclose()
            if self._watcher is not None:
                self._watcher.cancel()
            if process is None:
                return
            with anyio.move_on_after(5):
                await process.wait()
            await _kill(process)
            if self.display is not None:
                await self.display.close()
            if self.profile is not None:
                await anyio.to_thread.run_sync(_remove_profile, self.profile)

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        if not self._closed:
            logger.warning("%s exited unexpectedly with code %s", self.name, code)
        self._exited(code)

    async def _watch_remote(self, listener: asyncio.Task[Any]) -> None:
        with contextlib.suppress(BaseException):
            await asyncio.shield(listener)
        if not self._closed:
            logger.warning("%s went away (its DevTools connection closed)", self.name)
        self._exited(None)

    def _exited(self, code: int | None) -> None:
        for listener in list(self._exit_listeners):
            listener(BrowserExited(code))

    async def _gone(self) -> None:
        """After a failed command: give a dying process a moment to be seen as gone."""
        if self.process is not None:
            with anyio.move_on_after(1):
                await self.process.wait()

    async def _read_info(self) -> BrowserInfo:
        _protocol, product, _revision, user_agent, _js = await self.send(cdp.browser.get_version())
        # The client-hint values are read from a chrome:// page: about:blank is not a
        # secure context, so navigator.userAgentData is missing there.
        context = await self.send(cdp.target.create_browser_context(dispose_on_detach=True))
        target = await self.send(
            cdp.target.create_target("chrome://version/", browser_context_id=context)
        )
        probe = Connection(target=target, parent=self._connection)
        try:
            hints = await _client_hints(self, probe)
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await probe.aclose()
                await self.send(cdp.target.dispose_browser_context(context))
        return browser_info(product, user_agent, json.loads(hints))


async def _client_hints(browser: Chromium, probe: Connection) -> str:
    """The browser's high-entropy client hints, as JSON, read from a chrome:// page."""
    script = (
        "navigator.userAgentData.getHighEntropyValues("
        f"{json.dumps(list(_HIGH_ENTROPY_HINTS))}).then(JSON.stringify)"
    )
    # createTarget returns before the page has loaded: until it has, the script runs
    # in the initial blank document, which has no userAgentData. Retry briefly.
    with anyio.move_on_after(10):
        while True:
            try:
                hints = await _evaluate(browser, probe, script, await_promise=True)
            except PageError:
                hints = None
            if isinstance(hints, str):
                return hints
            await anyio.sleep(0.02)
    raise BrowserFailed("Chromium did not report its client hints (chrome://version)")


def browser_info(product: str, user_agent: str, hints: Mapping[str, Any]) -> BrowserInfo:
    """The identity a harvest presents: the real version, never "HeadlessChrome"."""
    version = product.split("/", 1)[-1]
    user_agent = user_agent.replace("HeadlessChrome/", "Chrome/")
    metadata = {
        "brands": [dict(b) for b in hints.get("brands", [])],
        "fullVersionList": [dict(b) for b in hints.get("fullVersionList", [])],
        "fullVersion": version,
        "platform": hints.get("platform", "Linux"),
        "platformVersion": hints.get("platformVersion", ""),
        "architecture": hints.get("architecture", "x86"),
        "model": hints.get("model", ""),
        "mobile": bool(hints.get("mobile", False)),
        "bitness": hints.get("bitness", "64"),
        "wow64": bool(hints.get("wow64", False)),
    }
    if hints.get("formFactors"):
        metadata["formFactors"] = list(hints["formFactors"])
    return BrowserInfo(product=product, version=version, user_agent=user_agent, metadata=metadata)


class Page:
    """One tab in its own browser context; closing it disposes the context."""

    def __init__(self, browser: Chromium, connection: Connection, context: Any) -> None:
        self.browser = browser
        self._connection = connection
        self._context = context
        self._listeners: list[Callable[[PageEvent], None]] = []
        self._closed = False
        self._unsubscribe = browser.on_exit(self._emit)
        self._pointer: tuple[float, float] | None = None  # where our last click left it

    async def start(self) -> None:
        """Subscribe to the events readiness and header capture need."""
        # Handlers do not enable their CDP domain: enable Network and Page ourselves.
        await self.send(cdp.network.enable())
        await self.send(cdp.page.enable())
        handlers: dict[type, Callable[[Any], PageEvent | None]] = {
            cdp.network.RequestWillBeSent: lambda e: RequestSent(
                str(e.request_id), e.request.url, e.type_.value if e.type_ else "Other"
            ),
            cdp.network.RequestWillBeSentExtraInfo: lambda e: RequestHeaders(
                str(e.request_id), tuple((str(k), str(v)) for k, v in dict(e.headers).items())
            ),
            cdp.network.LoadingFinished: lambda _e: PageChanged(),
            cdp.page.LoadEventFired: lambda _e: PageChanged(),
            cdp.page.DomContentEventFired: lambda _e: PageChanged(),
            cdp.page.FrameNavigated: lambda _e: PageChanged(),
        }
        for event_type, translate in handlers.items():
            self._connection.add_handler(event_type, _handler(self, translate))

    def on_event(self, callback: Callable[[PageEvent], None]) -> None:
        """Call ``callback`` (synchronously, on the event loop) for every page event."""
        self._listeners.append(callback)

    def _emit(self, event: PageEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a listener's bug must not kill nodriver's reader task
                logger.exception("page event listener failed")

    async def send(self, command: Any) -> Any:
        return await _send(self.browser, self._connection, command)

    async def set_user_agent(self, info: BrowserInfo) -> None:
        """Present ``info``'s user agent and client hints (before navigating).

        No ``acceptLanguage``: the override would move Accept-Language up in every
        request (after User-Agent on a page load), an order stock Chromium never sends.
        The language comes from ``--lang`` instead, which keeps Chromium's own order.
        """
        metadata = cdp.emulation.UserAgentMetadata.from_json(dict(info.metadata))
        await self.send(
            cdp.emulation.set_user_agent_override(
                user_agent=info.user_agent,
                platform=_navigator_platform(info),
                user_agent_metadata=metadata,
            )
        )

    async def ignore_certificate_errors(self) -> None:
        """Accept any certificate in this page's DevTools session (and only while it
        lasts): how a browser we did not launch, so could not give a flag, opens the
        fingerprint endpoint's throwaway certificate. Never for a harvest's page."""
        await self.send(cdp.security.set_ignore_certificate_errors(ignore=True))

    async def navigate(self, url: str) -> None:
        """Start loading ``url``; raises ``PageError`` when it cannot even start."""
        _frame, _loader, error, *_ = await self.send(cdp.page.navigate(url))
        if error:
            raise PageError(f"could not open {url}: {error}")

    async def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        """The JSON value of ``expression``; ``PageError`` if it throws."""
        return await _evaluate(self.browser, self._connection, expression, await_promise)

    async def find_in_frame(self, frame: re.Pattern[str], selector: str) -> Box | None:
        """Where the first element matching ``selector`` is, inside an iframe whose URL
        matches ``frame``, in this page's viewport; ``None`` while there is none (or it
        is not laid out yet). Shadow roots are pierced, closed ones too, in the page and
        in the frame; a cross-site frame (its own renderer) is read through its target."""
        document = await self.send(cdp.dom.get_document(depth=-1, pierce=True))
        for iframe in _nodes(document):
            if iframe.node_name != "IFRAME" or not frame.search(_attribute(iframe, "src")):
                continue
            with contextlib.suppress(PageError):
                await self.send(cdp.dom.scroll_into_view_if_needed(node_id=iframe.node_id))
            outer = await _box(self.browser, self._connection, iframe.node_id)
            if outer is None:
                continue
            if iframe.content_document is not None:
                # In this renderer: its boxes are in this page's viewport already.
                return await _find(
                    self.browser, self._connection, iframe.content_document, selector
                )
            if iframe.frame_id is None:
                continue
            inner = await self._find_out_of_process(iframe.frame_id, selector)
            if inner is not None:
                # Out of process, boxes are in the frame's own viewport: offset by it.
                return Box(outer.x + inner.x, outer.y + inner.y, inner.width, inner.height)
        return None

    async def _find_out_of_process(self, frame_id: Any, selector: str) -> Box | None:
        # An out-of-process frame is a target of its own, with the frame's id; the
        # browser attaches to it only once it has listed it.
        targets = await self.browser.send(cdp.target.get_targets())
        target = next((t.target_id for t in targets if str(t.target_id) == str(frame_id)), None)
        if target is None:
            return None
        connection = Connection(target=target, parent=self.browser._connection)
        try:
            document = await _send(
                self.browser, connection, cdp.dom.get_document(depth=-1, pierce=True)
            )
            return await _find(self.browser, connection, document, selector)
        except PageError:
            return None  # the frame went (navigated, or the challenge moved on)
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await connection.aclose()

    async def click(self, box: Box, rng: random.Random) -> None:
        """Click inside ``box`` as a person would: the pointer travels there on a curve
        in small steps, settles, then the button goes down and up. Real input events
        (``Input.dispatchMouseEvent``): the page sees them as trusted, wherever the
        point is (an out-of-process frame included: the browser routes them)."""
        x = box.x + box.width * rng.uniform(0.35, 0.65)
        y = box.y + box.height * rng.uniform(0.35, 0.65)
        start_x, start_y = self._pointer or (rng.uniform(200, 600), rng.uniform(300, 500))
        bend_x = (start_x + x) / 2 + rng.uniform(-80, 80)
        bend_y = (start_y + y) / 2 + rng.uniform(-80, 80)
        steps = rng.randint(12, 20)
        path = [
            _bezier((start_x, start_y), (bend_x, bend_y), (x, y), i / steps)
            for i in range(1, steps + 1)
        ]
        # Settling moves over the target: people adjust before they press.
        path += [(x + rng.uniform(-1.5, 1.5), y + rng.uniform(-1.5, 1.5)) for _ in range(3)]
        for px, py in path:
            await self.send(cdp.input_.dispatch_mouse_event("mouseMoved", x=px, y=py))
            await anyio.sleep(rng.uniform(0.008, 0.025))
        px, py = path[-1]
        left = cdp.input_.MouseButton.LEFT
        await self.send(
            cdp.input_.dispatch_mouse_event(
                "mousePressed", x=px, y=py, button=left, buttons=1, click_count=1
            )
        )
        await anyio.sleep(rng.uniform(0.06, 0.14))
        await self.send(
            cdp.input_.dispatch_mouse_event(
                "mouseReleased", x=px, y=py, button=left, buttons=0, click_count=1
            )
        )
        self._pointer = (px, py)

    async def cookies(self) -> list[Cookie]:
        """Every cookie of this page's browser context, HttpOnly ones included."""
        found = await self.browser.send(cdp.storage.get_cookies(browser_context_id=self._context))
        return [_cookie(c) for c in found]

    async def set_cookies(self, cookies: Iterable[Cookie]) -> None:
        """Put ``cookies`` in this page's browser context (before navigating)."""
        params = [_cookie_param(c) for c in cookies]
        if params:
            await self.browser.send(
                cdp.storage.set_cookies(cookies=params, browser_context_id=self._context)
            )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        self.browser._pages.discard(self)
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(Exception):
                await self._connection.aclose()
            if self.browser.alive:
                with anyio.move_on_after(5), contextlib.suppress(Exception):
                    await self.browser.send(cdp.target.dispose_browser_context(self._context))


def _handler(page: Page, translate: Callable[[Any], PageEvent | None]) -> Callable[..., None]:
    # nodriver calls handlers with (event, connection) and retries with (event) on a
    # TypeError; taking *args keeps a TypeError inside translate from running it twice.
    def handle(*args: Any) -> None:
        event = translate(args[0])
        if event is not None:
            page._emit(event)

    return handle


def _nodes(node: Any) -> Iterator[Any]:
    """``node`` and everything under it: children, shadow roots, frame documents."""
    yield node
    for child in node.children or ():
        yield from _nodes(child)
    for root in node.shadow_roots or ():
        yield from _nodes(root)
    if node.content_document is not None:
        yield from _nodes(node.content_document)


def _attribute(node: Any, name: str) -> str:
    attributes = node.attributes or []
    return next(
        (v for k, v in zip(attributes[::2], attributes[1::2], strict=True) if k == name), ""
    )


async def _box(browser: Chromium, connection: Connection, node_id: Any) -> Box | None:
    """``node_id``'s content box, or ``None`` when it has none (not laid out, hidden)."""
    try:
        model = await _send(browser, connection, cdp.dom.get_box_model(node_id=node_id))
    except PageError:
        return None
    xs, ys = model.content[0::2], model.content[1::2]
    box = Box(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
    return box if box.width > 0 and box.height > 0 else None


async def _find(
    browser: Chromium, connection: Connection, document: Any, selector: str
) -> Box | None:
    """The box of the first element matching ``selector`` in ``document`` or any shadow
    root under it (a selector does not cross a shadow boundary: each root is asked)."""
    roots = [n for n in _nodes(document) if n.node_name in ("#document", "#document-fragment")]
    for root in roots:
        try:
            found = await _send(browser, connection, cdp.dom.query_selector(root.node_id, selector))
        except PageError:
            continue
        if found:
            box = await _box(browser, connection, found)
            if box is not None:
                return box
    return None


def _bezier(
    start: tuple[float, float], bend: tuple[float, float], end: tuple[float, float], t: float
) -> tuple[float, float]:
    """The point at ``t`` (0 to 1) of the quadratic curve from ``start`` to ``end``."""
    return (
        (1 - t) ** 2 * start[0] + 2 * (1 - t) * t * bend[0] + t**2 * end[0],
        (1 - t) ** 2 * start[1] + 2 * (1 - t) * t * bend[1] + t**2 * end[1],
    )


async def _send(browser: Chromium, connection: Connection, command: Any) -> Any:
    try:
        return await connection.send(command)
    except ProtocolException as exc:
        if not browser.alive:
            raise _exited(browser) from exc
        raise PageError(f"the browser refused a command: {shorten(str(exc))}") from exc
    except (ConnectionError, OSError, RuntimeError) as exc:
        # nodriver raises these when the websocket drops, i.e. Chromium is gone.
        await browser._gone()
        raise _exited(browser) from exc
    except Exception as exc:
        # A browser killed mid-message surfaces as whatever the websocket library
        # raised (an "InvalidMessage"): say what happened if Chromium is gone.
        await browser._gone()
        if not browser.alive:
            raise _exited(browser) from exc
        raise


def _exited(browser: Chromium) -> BrowserFailed:
    if browser._closed:
        how = "closed"
    elif browser.process is None:
        how = "went away (its DevTools connection closed)"
    else:
        how = f"exited unexpectedly (code {browser.process.returncode})"
    return BrowserFailed(f"{browser.name} {how}")


async def _evaluate(
    browser: Chromium, connection: Connection, expression: str, await_promise: bool = False
) -> Any:
    remote, thrown = await _send(
        browser,
        connection,
        cdp.runtime.evaluate(expression, return_by_value=True, await_promise=await_promise),
    )
    if thrown is not None:
        description = (thrown.exception.description if thrown.exception else None) or thrown.text
        raise PageError(f"a page script failed: {shorten(description.splitlines()[0])}")
    # evaluate hands errors back as objects: only trust plain JSON values.
    if remote.type_ in ("string", "number", "boolean", "object") and remote.subtype != "error":
        return remote.value
    return None


def _cookie(c: Any) -> Cookie:
    return Cookie(
        name=c.name,
        value=c.value,
        domain=c.domain,
        path=c.path or "/",
        expires=None if c.session or c.expires is None or c.expires < 0 else float(c.expires),
        secure=bool(c.secure),
        http_only=bool(c.http_only),
        same_site=c.same_site.value if c.same_site is not None else None,
        host_only=not c.domain.startswith("."),
    )


def _cookie_param(c: Cookie) -> Any:
    return cdp.network.CookieParam(
        name=c.name,
        value=c.value,
        # A host-only cookie is set through its URL: a domain would widen it.
        url=f"https://{c.domain}{c.path}" if c.host_only else None,
        domain=None if c.host_only else f".{c.domain}",
        path=c.path,
        secure=c.secure,
        http_only=c.http_only,
        same_site=cdp.network.CookieSameSite(c.same_site) if c.same_site else None,
        expires=cdp.network.TimeSinceEpoch(c.expires) if c.expires is not None else None,
    )


def _navigator_platform(info: BrowserInfo) -> str:
    # navigator.platform as Chrome reports it for each client-hint platform.
    platform = str(info.metadata.get("platform", "Linux"))
    return {"Windows": "Win32", "macOS": "MacIntel", "Linux": "Linux x86_64"}.get(
        platform, platform
    )


# -- process and profile directory ---------------------------------------------------


def _shown_url(url: str) -> str:
    """``url`` as logs may show it: scheme, host and port (no token, no path)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


async def _browser_websocket(url: str, shown: str) -> str:
    """The browser's DevTools websocket: ``url`` itself, or what its ``/json/version``
    says, at ``url``'s host and port (a browser in a container names its own)."""
    parts = urlsplit(url)
    if parts.scheme in ("ws", "wss"):
        return url
    version = urlunsplit((parts.scheme, parts.netloc, "/json/version", parts.query, ""))
    try:
        body = await anyio.to_thread.run_sync(_read_url, version)
        websocket = json.loads(body)["webSocketDebuggerUrl"]
    except OSError as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise BrowserFailed(
            f"no browser answers at {shown}/json/version ({reason}); start Chromium with "
            "--remote-debugging-port (and --remote-debugging-address), or fix [browser] cdp"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise BrowserFailed(
            f"{shown}/json/version is not a DevTools answer (no webSocketDebuggerUrl)"
        ) from None
    found = urlsplit(str(websocket))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, found.path, found.query or parts.query, ""))


def _read_url(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        body: bytes = answer.read(1 << 20)
        return body


async def _devtools_url(profile: Path, process: asyncio.subprocess.Process) -> str:
    """Wait for Chromium to write its debugging port (a short poll: it is a file)."""
    marker = profile / "DevToolsActivePort"
    delay = 0.01
    while True:
        if process.returncode is not None:
            tail = await anyio.to_thread.run_sync(_log_tail, profile)
            raise BrowserFailed(f"Chromium exited at start with code {process.returncode}{tail}")
        text = await anyio.Path(marker).read_text() if await anyio.Path(marker).exists() else ""
        lines = text.split("\n")
        if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].startswith("/"):
            return f"ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}"
        await anyio.sleep(delay)
        delay = min(delay * 2, 0.1)


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL Chromium's whole process group (its helpers too) and wait for it to go."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with anyio.move_on_after(5):
        await process.wait()
    # The helpers die with the group but the kernel takes a moment to tear them down;
    # wait (briefly: orphaned zombies may never be reaped in a container).
    with anyio.move_on_after(2):
        while _group_exists(process.pid):  # noqa: ASYNC110 - no event tells us
            await anyio.sleep(0.02)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _new_profile_dir() -> Path:
    _remove_orphaned_profiles()
    return Path(tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{os.getpid()}-"))


def _new_temp_dir(profile: Path) -> Path:
    """Chromium's own TMPDIR for the browser of ``profile``, on a short path."""
    temp = _temp_for(profile)
    temp.mkdir(mode=0o700)
    return temp


def _temp_for(profile: Path) -> Path:
    return _temp_root() / (_TEMP_PREFIX + profile.name.removeprefix(PROFILE_PREFIX))


def _temp_root() -> Path:
    """The first writable temporary directory whose path leaves Chromium's socket path
    within its limit: TMPDIR, then the usual ones."""
    candidates = [tempfile.gettempdir(), "/tmp", "/dev/shm", "/var/tmp"]
    for candidate in dict.fromkeys(candidates):
        root = Path(candidate)
        fits = len(str(root)) + _SOCKET_TAIL <= _SOCKET_PATH_MAX
        if fits and root.is_dir() and os.access(root, os.W_OK | os.X_OK):
            return root
    longest = _SOCKET_PATH_MAX - _SOCKET_TAIL
    raise BrowserFailed(
        f"no writable temporary directory with a path of at most {longest} characters "
        f"for Chromium (TMPDIR is {tempfile.gettempdir()!r}); set TMPDIR to a short "
        "writable directory such as /tmp"
    )


def _remove_orphaned_profiles() -> None:
    # A SIGKILLed harvester cannot remove its profile; the next launch does.
    pattern = re.compile(re.escape(PROFILE_PREFIX) + r"(\d+)-")
    for entry in Path(tempfile.gettempdir()).glob(f"{PROFILE_PREFIX}*"):
        match = pattern.match(entry.name)
        if match and not pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            with contextlib.suppress(BrowserFailed):
                shutil.rmtree(_temp_for(entry), ignore_errors=True)


def _open_log(profile: Path) -> Any:
    return open(profile / "chromium.log", "wb")  # handed to the child, closed by launch


def _log_tail(profile: Path, lines: int = 5) -> str:
    try:
        text = (profile / "chromium.log").read_text(errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return (":\n  " + "\n  ".join(tail)) if tail else ""


def _remove_profile(profile: Path) -> None:
    shutil.rmtree(profile, ignore_errors=True)
    with contextlib.suppress(BrowserFailed):
        shutil.rmtree(_temp_for(profile), ignore_errors=True)
