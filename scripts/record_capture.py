#!/usr/bin/env python3
"""Record the installed Chromium's capture as test data: its ClientHello, page load and
every API call the providers make, over HTTP/2 and HTTP/1.1 (what the harvester stores).

The recording holds no secret: the capture's cookies and page-set headers carry
placeholder values. Tests replay it to prove a capture of another build still replays.

    .venv/bin/python scripts/record_capture.py [tests/data/chromiumNNN_capture.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from client.providers import api_calls  # noqa: E402
from harvester._browser import Chromium, find_chromium  # noqa: E402
from harvester._capture import capture_browser  # noqa: E402
from harvester._endpoint import FingerprintEndpoint  # noqa: E402


async def record(out: Path | None) -> Path:
    async with FingerprintEndpoint() as endpoint:
        browser = await Chromium.launch(find_chromium(None), args=endpoint.browser_args)
        try:
            capture = await capture_browser(browser, endpoint, calls=api_calls())
        finally:
            await browser.close()
    info = browser.info
    assert info is not None
    path = out or ROOT / "tests" / "data" / f"chromium{info.major}_capture.json"
    data = {
        "recorded_from": f"{info.product} through the harvester's fingerprint endpoint, "
        "with the providers' API calls",
        "browser_version": info.version,
        "hello": capture.hello.hex(),
        "fingerprint": capture.fingerprint.to_dict(),
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, help="where to write the recording")
    args = parser.parse_args()
    print(f"recorded {anyio.run(record, args.out)}")


if __name__ == "__main__":
    main()
