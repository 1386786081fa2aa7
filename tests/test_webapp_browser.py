"""The web app driven in headless Chromium: upload, progress, dashboard, packet; hostile text.

A real uvicorn server runs on 127.0.0.1 (a free port) in a thread; Chromium
(Debian's ``/usr/bin/chromium``, as the packet test uses) is driven over the
DevTools protocol on ``--remote-debugging-pipe``, so no websocket library and
no browser download are needed. Skipped where Chromium is missing.

Set ``REVIEW_DETECTOR_SCREENSHOTS=DIR`` to keep the dashboard and case-page
screenshots in DIR (the README's come from
``detector/webapp/static/screenshots``).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import queue
import socket
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import uvicorn  # noqa: E402
from conftest import CHROMIUM  # noqa: E402
from conftest import FLAGS as CHROMIUM_FLAGS  # noqa: E402

from benchmarks.exports import build_export, write_export  # noqa: E402
from detector.webapp.app import Settings, asgi  # noqa: E402

pytestmark = pytest.mark.browser

#: Driven over the DevTools protocol on fds 3 and 4.
FLAGS = (*CHROMIUM_FLAGS, "--remote-debugging-pipe")
HOSTILE = (
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    '"><svg onload="window.__pwned = 3">',
)


class Chromium:
    """Headless Chromium over the DevTools protocol on a pipe (fds 3 and 4)."""

    def __init__(self, profile: Path, timeout: float = 90):
        self.timeout = timeout
        to_r, self._w = os.pipe()
        self._r, from_w = os.pipe()
        # bash (not dash) redirects file descriptors above 9
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$@" 3<&{to_r} 4>&{from_w}', "bash", CHROMIUM, *FLAGS]
            + [f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_r, from_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_r)
        os.close(from_w)
        self._id = 0
        self._replies: dict[int, dict] = {}
        self._cv = threading.Condition()
        self.events: queue.Queue = queue.Queue()
        self.session: str | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buf = b""
        while chunk := os.read(self._r, 1 << 16):
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cv:
                        self._replies[msg["id"]] = msg
                        self._cv.notify_all()
                else:
                    self.events.put(msg)

    def send(self, method: str, browser: bool = False, **params) -> dict:
        self._id += 1
        mid = self._id
        msg = {"id": mid, "method": method, "params": params}
        if self.session and not browser:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        end = time.monotonic() + self.timeout
        with self._cv:
            while mid not in self._replies:
                if not self._cv.wait(max(end - time.monotonic(), 0)):
                    raise TimeoutError(method)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, timeout: float | None = None) -> dict:
        end = time.monotonic() + (timeout or self.timeout)
        while (left := end - time.monotonic()) > 0:
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                break
            if ev.get("method") == method:
                return ev.get("params", {})
        raise TimeoutError(method)

    def open(self, downloads: Path) -> None:
        """A new tab, attached: later commands go to it."""
        self.session = None
        target = self.send("Target.createTarget", browser=True, url="about:blank")["targetId"]
        self.target = target
        self.session = self.send(
            "Target.attachToTarget", browser=True, targetId=target, flatten=True
        )["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send(
            "Browser.setDownloadBehavior",
            browser=True,
            behavior="allow",
            downloadPath=str(downloads),
            eventsEnabled=True,
        )
        self.viewport(900)

    def viewport(self, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def drain(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    def goto(self, url: str) -> None:
        self.drain()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def click(self, selector: str) -> None:
        """Click and wait for the page it leads to."""
        self.drain()
        self.js(f"document.querySelector({json.dumps(selector)}).click()")
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str):
        for _ in range(50):  # a page being replaced has no context for a moment
            res = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
            if "exceptionDetails" not in res:
                return res["result"].get("value")
            time.sleep(0.1)
        raise RuntimeError(res["exceptionDetails"])

    def set_file(self, selector: str, path: Path) -> None:
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", nodeId=node, files=[str(path)])

    def screenshot(self, path: Path) -> None:
        height = int(self.js("document.documentElement.scrollHeight"))
        self.viewport(min(height, 3000))
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        self.viewport(900)

    def close_tab(self) -> None:
        self.send("Target.closeTarget", browser=True, targetId=self.target)
        self.session = None
        self.drain()

    def close(self) -> None:
        try:
            self.send("Browser.close", browser=True)
            self.proc.wait(15)
        except (TimeoutError, RuntimeError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)
        os.close(self._w)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real server on 127.0.0.1 over a fresh data folder (one for the module); yields its
    base URL."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium not found at /usr/bin/chromium (apt-get install chromium)")
    data = tmp_path_factory.mktemp("webapp-browser") / "data"
    port = free_port()
    config = uvicorn.Config(
        asgi(Settings(data=data)), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < end, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory, server):
    """One Chromium for the module (a launch costs seconds); each test opens its own tab."""
    b = Chromium(tmp_path_factory.mktemp("chromium") / "profile")
    yield b
    b.close()


@pytest.fixture
def browser(chromium, tmp_path):
    """A fresh tab of the module's Chromium, downloading into ``tmp_path/downloads``."""
    (tmp_path / "downloads").mkdir()
    chromium.open(tmp_path / "downloads")
    yield chromium
    chromium.close_tab()


def merchant_export(root: Path, hostile: bool = False) -> tuple[Path, Path, str]:
    """A Douyin shop's review and order exports (.xlsx) with a planted smear, and a shop
    name for the form. ``hostile`` puts markup into the smear's texts, the shop name and
    the file name, as CSV."""
    export = build_export("douyin", seed=2, n=2000)
    shop = "我的抖音小店"
    if hostile:
        smear = export.truth.filter(pl.col("kind") == "smear")["order_id"].implode()
        payload = pl.Series([HOSTILE[i % 3] for i in range(export.reviews.height)])
        reviews = export.reviews.with_columns(
            pl.when(pl.col("订单编号").is_in(smear))
            .then(pl.col("评价内容") + " " + payload)
            .otherwise(pl.col("评价内容"))
        )
        export = dataclasses.replace(export, reviews=reviews)
        shop = '店"><svg onload="window.__pwned = 5">'
    files = write_export(export, root, fmt="csv" if hostile else "xlsx")
    if hostile:  # the client's file name is shown on the pages too
        named = root / '"><img src=x onerror="window.__pwned = 4">.csv'
        files["reviews"].rename(named)
        files["reviews"] = named
    return files["reviews"], files["orders"], shop


def upload_and_wait(
    b: Chromium, base: str, files: tuple[Path, Path, str], lang: str = "zh"
) -> tuple[str, bool]:
    """Upload on the start page; returns the dashboard URL and whether progress was shown."""
    reviews, orders, shop = files
    b.goto(base + f"/?lang={lang}")
    b.set_file("#upload input[name=file]", reviews)
    b.set_file("#upload input[name=orders]", orders)
    b.js("document.querySelector('#upload select[name=preset]').value = 'douyin'")
    b.js(f"document.querySelector('#upload input[name=shop]').value = {json.dumps(shop)}")
    b.click("#upload button[type=submit]")
    saw_progress = bool(b.js("!!document.querySelector('progress#progress')"))
    end = time.monotonic() + 240
    while time.monotonic() < end:
        state = b.js("(document.querySelector('#state') || {dataset: {}}).dataset.state || ''")
        if b.js("!!document.querySelector('#cases')"):
            break
        assert state != "failed", b.js("document.body.innerText")
        time.sleep(0.5)
    else:
        raise AssertionError("the scan did not finish in the browser")
    assert b.js("document.querySelector('#shop').textContent") == shop
    return b.js("location.href"), saw_progress


def test_upload_dashboard_and_douyin_packet(server, browser, tmp_path):
    files = merchant_export(tmp_path / "export")
    shop = files[2]
    url, saw_progress = upload_and_wait(browser, server, files)
    assert saw_progress, "the progress page was not shown"
    b = browser
    assert b.js("document.querySelectorAll('svg.chart').length") == 3
    kinds = b.js("[...document.querySelectorAll('#cases article')].map(a => a.className)")
    assert any("kind-smear" in k for k in kinds), kinds
    # the attack alert names the smear's case
    alert_cases = b.js(
        "[...document.querySelectorAll('tr.alert-attack a')].map(a => a.textContent)"
    )
    case_ids = b.js(
        "[...document.querySelectorAll('#cases article.kind-smear h3 a')].map(a => a.textContent)"
    )
    assert alert_cases and all(any(c in h for h in case_ids) for c in alert_cases), (
        alert_cases,
        case_ids,
    )
    shots = Path(os.environ.get("REVIEW_DETECTOR_SCREENSHOTS") or tmp_path)
    b.screenshot(shots / "dashboard.png")

    b.click("#cases article.kind-smear h3 a")
    case_id = b.js("document.querySelector('#case-id').textContent")
    assert case_id and b.js("document.querySelectorAll('table.reviews tbody tr').length") >= 2
    b.screenshot(shots / "case.png")

    b.js("document.querySelector('.packet-form select[name=platform]').value = 'douyin'")
    b.click(".packet-form button[type=submit]")
    assert "/packets/douyin-" in b.js("location.href")
    summary = b.js("document.querySelector('#packet-summary').textContent")
    assert summary.strip()
    n_cards = b.js("document.querySelectorAll('.cards img').length")
    assert 1 <= n_cards <= 6
    loaded = b.js("[...document.querySelectorAll('.cards img')].every(i => i.naturalWidth > 0)")
    assert loaded, "a card image did not load"

    b.drain()
    b.js("document.querySelector('#zip').click()")
    while True:
        ev = b.wait_event("Browser.downloadProgress")
        assert ev["state"] != "canceled"
        if ev["state"] == "completed":
            break
    zips = list((tmp_path / "downloads").glob("*.zip"))
    assert len(zips) == 1
    with zipfile.ZipFile(zips[0]) as zf:
        names = zf.namelist()
        packet = json.loads(zf.read(next(n for n in names if n.endswith("/packet.json"))))
    assert packet["platform"]["key"] == "douyin" and packet["shop_id"] == shop
    assert len([n for n in names if "/cards/" in n]) <= 6
    assert case_id in {c["case_id"] for c in packet["cases"]}

    # deleted from the start page: the scan and its packet are gone
    scan_id = url.split("/scans/", 1)[1].split("?")[0].split("/")[0]
    b.goto(server + "/")
    b.click(f'form[action="/scans/{scan_id}/delete"] button')
    assert b.js("location.pathname") == "/"
    assert not b.js(f"!!document.querySelector('a[href=\"/scans/{scan_id}\"]')")


def test_hostile_text_never_executes(server, browser, tmp_path):
    url, _ = upload_and_wait(browser, server, merchant_export(tmp_path / "x", True), lang="en")
    b = browser
    pages = [server + "/", url]
    b.goto(url)
    pages += b.js("[...document.querySelectorAll('#cases h3 a')].map(a => a.href)")
    shown = ""
    for page in pages:
        b.goto(page)
        assert b.js("typeof window.__pwned") == "undefined", page
        assert b.js("document.scripts.length") == 0, page
        assert b.js("document.querySelectorAll('img[src=x], [onerror], [onload]').length") == 0
        shown += b.js("document.body.innerText")
    # the markup is shown as the text it is
    assert any(h in shown for h in HOSTILE), "no hostile review reached a page"
    b.js("document.querySelector('.packet-form select[name=platform]').value = 'generic'")
    b.click(".packet-form button[type=submit]")
    assert b.js("typeof window.__pwned") == "undefined"
    b.goto(b.js("document.querySelector('a[href$=\"/packet.html\"]').href"))
    assert b.js("typeof window.__pwned") == "undefined"
