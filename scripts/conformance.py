#!/usr/bin/env python3
"""Run the client's cookie and event-stream parsers against public conformance suites.

The suites are not part of this repository (nobody on this project wrote them): point
``--suites`` at a directory holding ``http-state/tests/data`` (the http-state cookie
tests: parser.json and dates/*.json), ``wpt-cookies.json`` and ``wpt-eventsource.json``
(cases transcribed from web-platform-tests). Prints one line per suite and every
failing case; ``--strict`` makes failures the exit status.

    .venv/bin/python scripts/conformance.py --suites ../shared/conformance

How each suite is run:
- http-state parser: each case's Set-Cookie headers on a response from
  ``http://home.example.org:8888/cookie-parser?NAME``, then the cookies a request to
  ``/cookie-parser-result?NAME`` (or the case's ``sent-to``) carries. The clock is
  2011-04-01, the suite's time (its "future" expiry dates lie in 2019).
- http-state dates: ``parse_cookie_date`` against each expected date (or none).
- WPT cookies: the headers at ``response_url``, then ``document.cookie`` at
  ``request_url`` (no HttpOnly cookie), each header cut at a CR or LF as HTTP framing
  cuts it; ``dom`` cases set through ``document.cookie``, where an HttpOnly cookie is
  ignored (RFC 6265bis 5.7 step 15). The clock is now.
- WPT EventSource: the body, UTF-8 encoded, through the line and event decoders whole
  and one byte at a time; the events and the reconnection time must be the expected.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Sequence
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client._cookies import cookie_header, parse_cookie_date, received_cookies  # noqa: E402
from client._lines import LineDecoder  # noqa: E402
from client._sse import SSEDecoder  # noqa: E402
from storage import Cookie, cookies_for, merged_cookies  # noqa: E402

HTTP_STATE_NOW = 1301616000.0  # 2011-04-01 00:00:00 UTC


def stored(
    jar: Sequence[Cookie], headers: Iterable[str], url: str, now: float, *, http: bool = True
) -> tuple[Cookie, ...]:
    new = received_cookies(list(headers), url, now=now, jar=jar)
    if not http:
        new = [c for c in new if not c.http_only]
    return merged_cookies(jar, new, now)


def http_state_parser(data: Path) -> tuple[int, list[str]]:
    failures = []
    cases = json.loads((data / "parser.json").read_text())
    for case in cases:
        name = case["test"].lower()
        url = f"http://home.example.org:8888/cookie-parser?{name}"
        jar = stored((), case["received"], url, HTTP_STATE_NOW)
        target = urljoin(url, case.get("sent-to", f"/cookie-parser-result?{name}"))
        sent = [
            {"name": c.name, "value": c.value} for c in cookies_for(jar, target, now=HTTP_STATE_NOW)
        ]
        if sent != case["sent"]:
            failures.append(
                f"{case['test']}: {case['received']!r} sent {sent} expected {case['sent']}"
            )
    return len(cases), failures


def http_state_dates(data: Path) -> tuple[int, list[str]]:
    failures, total = [], 0
    for path in sorted((data / "dates").glob("*.json")):
        text = path.read_text()
        cases = json.loads(text[text.index("[") :])  # after the licence comment
        for case in cases:
            total += 1
            parsed = parse_cookie_date(case["test"])
            got = None if parsed is None else formatdate(parsed, usegmt=True)
            if got != case["expected"]:
                failures.append(
                    f"{path.name}: {case['test']!r} gave {got} expected {case['expected']}"
                )
    return total, failures


def wpt_cookies(path: Path) -> tuple[int, list[str]]:
    failures = []
    cases = json.loads(path.read_text())["cases"]
    now = time.time()
    for case in cases:
        headers = case["set_cookie"]
        if case["kind"] != "dom":
            # Over HTTP a CR or LF ends the header line: what follows is not its value.
            headers = [re.split("[\r\n]", h, maxsplit=1)[0] for h in headers]
        jar = stored((), headers, case["response_url"], now, http=case["kind"] != "dom")
        chosen = cookies_for(jar, case["request_url"], now=now)
        if case.get("document_cookie", True):
            chosen = [c for c in chosen if not c.http_only]
        got = cookie_header(chosen)
        if got != case["expected"]:
            failures.append(
                f"{case['source']} {case['name']!r}: {case['set_cookie']!r} gave {got!r}"
                f" expected {case['expected']!r}"
            )
    return len(cases), failures


def decode(chunks: Iterable[bytes]) -> tuple[list[dict[str, Any]], int | None]:
    lines, decoder = LineDecoder(), SSEDecoder()
    events = []
    for chunk in chunks:
        for line in lines.feed(chunk):
            event = decoder.feed(line)
            if event is not None:
                events.append({"type": event.event, "data": event.data, "lastEventId": event.id})
    return events, decoder.reconnection_time


def wpt_eventsource(path: Path) -> tuple[int, list[str]]:
    failures = []
    cases = json.loads(path.read_text())["cases"]
    for case in cases:
        body = case["body"].encode()
        for how, chunks in (
            ("whole", [body]),
            ("bytewise", [body[i : i + 1] for i in range(len(body))]),
        ):
            events, retry = decode(chunks)
            if events != case["events"] or (
                "reconnection_time" in case and retry != case["reconnection_time"]
            ):
                failures.append(f"{case['name']} ({how}): {events} retry={retry}")
    return len(cases), failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", type=Path, default=ROOT.parent / "shared" / "conformance")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any case fails")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # each refused cookie is logged; the table says it
    suites = args.suites
    data = suites / "http-state" / "tests" / "data"
    if not (data / "parser.json").is_file():
        sys.exit(f"no conformance suites in {suites}: pass --suites DIR (see --help)")
    runs = [
        ("http-state parser", http_state_parser, data),
        ("http-state dates", http_state_dates, data),
        ("WPT cookies", wpt_cookies, suites / "wpt-cookies.json"),
        ("WPT EventSource", wpt_eventsource, suites / "wpt-eventsource.json"),
    ]
    failed = 0
    print(f"| {'suite':<18} | {'cases':>5} | {'pass':>5} | {'fail':>4} |")
    print(f"| {'-' * 18} | {'-' * 5} | {'-' * 5} | {'-' * 4} |")
    details = []
    for name, run, where in runs:
        total, failures = run(where)  # type: ignore[operator]
        failed += len(failures)
        print(f"| {name:<18} | {total:>5} | {total - len(failures):>5} | {len(failures):>4} |")
        details.extend(f"{name}: {line}" for line in failures)
    for line in details:
        print(line)
    sys.exit(1 if failed and args.strict else 0)


if __name__ == "__main__":
    main()
