"""Render report pages in headless Chromium: fail on a broken image or link or a console error.

    python scripts/browser_check.py reports/default [more pages or folders] [--screens DIR]

Every page (a folder stands for its index.html and runs/*/report.html) is loaded from disk in one
headless Chromium (Debian's `chromium` package), driven over the DevTools protocol. A page fails
when the browser logs an error (a console error, an uncaught exception, a resource that failed to
load) or an image did not load, and when the static checks of `kit.report.links` find a broken
link. A full-page screenshot of each page is saved (default: `<study folder>/screens/`).
Exit status 0 when every page passes, 1 otherwise, 2 when Chromium cannot be started.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Flags for a headless Chromium as root on a machine without a display or outside network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
]
WIDTH = 1280
LOAD_TIMEOUT = 30.0
# Screenshots taller than this are cut (a 51-run study report is long; the top tells most).
MAX_SHOT_HEIGHT = 16000
# Images that have not loaded this long after the load event count as broken.
BROKEN_IMAGES_JS = (
    "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
    ".map(i => (i.getAttribute('src') || '').slice(0, 120))"
)


def find_chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    """One headless Chromium and a DevTools websocket to it (synchronous, one page at a time)."""

    def __init__(self, executable: str):
        import websocket  # websocket-client

        self.profile = tempfile.mkdtemp(prefix="crmkit-chromium-")
        self.proc = subprocess.Popen(
            [
                executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                f"--window-size={WIDTH},900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = None
        t0 = time.monotonic()
        while time.monotonic() - t0 < LOAD_TIMEOUT:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            if "DevTools listening on " in line:
                url = line.split("DevTools listening on ", 1)[1].strip()
                break
        if url is None:
            self.close()
            raise RuntimeError("Chromium did not start (no DevTools address on its stderr)")
        self.ws = websocket.create_connection(url, timeout=LOAD_TIMEOUT, suppress_origin=True)
        self._id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = LOAD_TIMEOUT) -> bool:
        if any(e.get("method") == event for e in self.events):
            return True
        self.ws.settimeout(timeout)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            reply = json.loads(self.ws.recv())
            self.events.append(reply)
            if reply.get("method") == event:
                return True
        return False

    def visit(self, page: Path, shot: Path | None) -> list[str]:
        """Load one page; return its problems (and save a full-page screenshot)."""
        self.events = []
        self.call("Page.navigate", {"url": page.resolve().as_uri()}, session=True)
        if not self.wait_for("Page.loadEventFired"):
            return [f"{page}: did not finish loading in {LOAD_TIMEOUT:.0f} s"]
        time.sleep(0.2)  # late console messages
        broken = (
            self.call("Runtime.evaluate", {"expression": BROKEN_IMAGES_JS, "returnByValue": True}, session=True)[
                "result"
            ].get("value")
            or []
        )
        problems = [f"{page}: image did not load: {src}" for src in broken]
        problems += [f"{page}: {text}" for text in console_errors(self.events)]
        if shot is not None:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            height = min(int(size["height"]) + 1, MAX_SHOT_HEIGHT)
            data = self.call(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": True,
                    "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1},
                },
                session=True,
            )["data"]
            shot.parent.mkdir(parents=True, exist_ok=True)
            shot.write_bytes(base64.b64decode(data))
        return problems

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


def console_errors(events: list[dict]) -> list[str]:
    """Error-level console messages, uncaught exceptions and failed loads among DevTools events."""
    out = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(
                "console error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            )
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append("uncaught exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            entry = p["entry"]
            out.append(f"browser error: {entry.get('text', '')} {entry.get('url', '')}".strip())
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            out.append(f"failed to load: {p.get('errorText', '')}")
    return out


def is_study(folder: Path) -> bool:
    return (folder / "index.html").exists() and (folder / "runs").is_dir()


def plan(folder: Path, screens: Path | None, limit: int = 0) -> list[tuple[Path, Path]]:
    """(page, screenshot) for a study folder (its report and run pages), for a folder of studies such
    as reports/ (its index and every study's pages), or for any other folder (its *.html files)."""
    if is_study(folder):
        runs = sorted(folder.glob("runs/*/report.html"))
        pages = [folder / "index.html", *(runs[:limit] if limit else runs)]
        shots = screens or folder / "screens"
        return [(p, shots / ("_".join(p.relative_to(folder).with_suffix("").parts) + ".png")) for p in pages]
    studies = [d for d in sorted(folder.iterdir()) if d.is_dir() and is_study(d)]
    if studies:
        out = (
            [(folder / "index.html", (screens or folder / "screens") / "index.png")]
            if (folder / "index.html").exists()
            else []
        )
        for d in studies:
            out += plan(d, screens / d.name if screens else None, limit)
        return out
    shots = screens or folder / "screens"
    return [(p, shots / (p.stem + ".png")) for p in sorted(folder.rglob("*.html")) if shots not in p.parents]


def main(argv: list[str] | None = None) -> int:
    from kit.report.links import check_page

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", help="study folders or HTML pages")
    ap.add_argument("--screens", help="folder for screenshots (default: <study folder>/screens)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many run pages per study (default 0: all)")
    args = ap.parse_args(argv)

    jobs: list[tuple[Path, Path]] = []  # (page, screenshot)
    for raw in map(Path, args.paths):
        if not raw.exists():
            print(f"browser-check: {raw} does not exist; render a report first (make study)", file=sys.stderr)
            return 2
        screens = Path(args.screens) if args.screens else None
        if raw.is_dir():
            jobs += plan(raw, screens, args.limit)
        else:
            jobs.append((raw, (screens or raw.parent / "screens") / (raw.stem + ".png")))
    if not jobs:
        print(f"browser-check: no HTML pages under {', '.join(args.paths)}", file=sys.stderr)
        return 2
    exe = find_chromium()
    if exe is None:
        print(
            "browser-check: no Chromium found; install Debian's package: apt-get install -y chromium", file=sys.stderr
        )
        return 2
    problems: list[str] = []
    try:
        browser = Browser(exe)
    except Exception as exc:
        print(f"browser-check: {exc}", file=sys.stderr)
        return 2
    try:
        for page, shot in jobs:
            found = check_page(page) + browser.visit(page, shot)
            problems += found
            print(f"{'FAIL' if found else 'ok  '} {page} -> {shot}")
    finally:
        browser.close()
    for p in problems:
        print(p, file=sys.stderr)
    print(f"{len(jobs) - len({p.split(': ', 1)[0] for p in problems})} of {len(jobs)} pages passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
