"""The web app's JSON API and pages through FastAPI's TestClient (no network).

One generated export (3,000 reviews, seed 4, with a planted smear) is scanned
once per module; tests that need their own data folder make one.
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

from benchmarks.generator import generate  # noqa: E402
from detector.cli import build_parser  # noqa: E402
from detector.webapp.app import Settings, asgi  # noqa: E402
from detector.webapp.security import CSRF_COOKIE  # noqa: E402

BASE = "http://127.0.0.1"
API = {"X-Requested-With": "pytest"}


def client(data: Path, **kw) -> TestClient:
    return TestClient(asgi(Settings(data=data, **kw)), base_url=BASE)


def wait(c: TestClient, scan_id: str, timeout: float = 180) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = c.get(f"/api/scans/{scan_id}").json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"scan {scan_id} did not finish: {status}")


def upload(c: TestClient, path: Path, name: str = "export.csv", **form) -> dict:
    with path.open("rb") as fh:
        res = c.post(
            "/api/scans",
            files={"file": (name, fh, "text/csv")},
            data={"timezone": "UTC", **form},
            headers=API,
        )
    return res


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A CSV export of generated reviews and the shop of its planted smear."""
    root = tmp_path_factory.mktemp("webapp-export")
    reviews, labels = generate(3000, seed=4)
    path = root / "export.csv"
    reviews.write_csv(path)
    shop = (
        reviews.join(labels, on="review_id")
        .filter(pl.col("attack_type") == "smear")
        .group_by("shop_id")
        .len()
        .sort(["len", "shop_id"], descending=[True, False])["shop_id"][0]
    )
    return path, shop, reviews


@pytest.fixture(scope="module")
def served(tmp_path_factory, export):
    """A data folder with one finished scan of the export, and its client."""
    data = tmp_path_factory.mktemp("webapp-data")
    with client(data) as c:
        res = upload(c, export[0], name="店铺 export (1).csv")
        assert res.status_code == 200, res.text
        scan_id = res.json()["id"]
        status = wait(c, scan_id)
        assert status["state"] == "done", status
        yield c, data, scan_id


def test_upload_runs_the_scan_and_reports_progress(served, export):
    c, data, scan_id = served
    status = c.get(f"/api/scans/{scan_id}").json()
    assert status["progress"]["fraction"] == 1.0
    assert status["rows"]["scored"] == export[2].height
    assert status["filename"] == "店铺 export (1).csv"  # recorded, never a path
    stored = list((data / "scans" / scan_id / "input").iterdir())
    assert [p.name for p in stored] == ["export.csv"]
    assert (data / "scans" / scan_id / "scan" / "summary.json").is_file()
    assert "inputs" not in status  # server paths stay on the server
    listed = c.get("/api/scans").json()
    assert [s["id"] for s in listed] == [scan_id]


def test_cases_of_the_smear_shop(served, export):
    c, _, scan_id = served
    _, shop, reviews = export
    body = c.get(f"/api/scans/{scan_id}/cases", params={"shop": shop, "lang": "en"}).json()
    cases = body["shops"][shop]["cases"]
    assert any(k["kind"] == "smear" for k in cases), [k["kind"] for k in cases]
    cited = [r for k in cases for r in k["reviews"]]
    by_id = {r["review_id"]: r for r in reviews.iter_rows(named=True)}
    for r in cited:
        row = by_id[r["review_id"]]
        assert r["order_id"] == row["order_id"]
        assert r["text"] == row["text"]
        assert r["local_time"] == row["created_at"].strftime("%Y-%m-%d %H:%M:%S")  # UTC export
        # every cited review has a reason, each in words
        assert r["reasons"] and all(x["text"] for x in r["reasons"]), r["review_id"]
    # every shop with reviews in cases when no shop is given
    assert shop in c.get(f"/api/scans/{scan_id}/cases").json()["shops"]
    assert c.get(f"/api/scans/{scan_id}/cases", params={"shop": "nope"}).status_code == 404


def test_packet_as_zip(served, export):
    c, data, scan_id = served
    shop = export[1]
    res = c.post(
        f"/api/scans/{scan_id}/packets",
        data={"shop": shop, "platform": "douyin", "lang": "zh"},
        headers=API,
    )
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(res.content))
    names = zf.namelist()
    top = names[0].split("/")[0]
    assert f"{top}/packet.json" in names and f"{top}/packet.html" in names
    packet = json.loads(zf.read(f"{top}/packet.json"))
    assert packet["shop_id"] == shop and packet["platform"]["key"] == "douyin"
    assert len([n for n in names if "/cards/" in n]) <= 6  # douyin takes 6 images
    # unknown platform, no such shop
    bad = c.post(f"/api/scans/{scan_id}/packets", data={"shop": shop, "platform": "x"}, headers=API)
    assert bad.status_code == 422
    none = c.post(f"/api/scans/{scan_id}/packets", data={"shop": "nope"}, headers=API)
    assert none.status_code == 404


def test_packet_from_the_page(served, export):
    c, _, scan_id = served
    shop = export[1]
    c.get(f"/scans/{scan_id}", params={"shop": shop})
    form = {"shop": shop, "platform": "jd", "csrf": c.cookies[CSRF_COOKIE]}
    res = c.post(f"/scans/{scan_id}/packets", data=form, follow_redirects=False)
    assert res.status_code == 303
    page = c.get(res.headers["location"])
    assert page.status_code == 200 and ".zip" in page.text
    assert c.get(res.headers["location"] + ".zip").headers["content-type"] == "application/zip"
    html = c.get(res.headers["location"] + "/packet.html")
    assert html.status_code == 200 and "sandbox" in html.headers["content-security-policy"]
    assert c.get(res.headers["location"] + "/cards/0").headers["content-type"] == "image/png"
    assert c.get(res.headers["location"] + "/cards/99").status_code == 404
    form["csrf"] = "forged"
    assert c.post(f"/scans/{scan_id}/packets", data=form).status_code == 403


def test_alerts_endpoint(served):
    c, _, scan_id = served
    body = c.get(f"/api/scans/{scan_id}/alerts").json()
    assert body["id"] == scan_id and isinstance(body["alerts"], list)


def test_openapi_documents_the_api(served):
    c, _, _ = served
    spec = c.get("/openapi.json").json()
    for path in (
        "/api/scans",
        "/api/scans/{scan_id}",
        "/api/scans/{scan_id}/cases",
        "/api/scans/{scan_id}/packets",
        "/api/scans/{scan_id}/alerts",
        "/api/rules",
    ):
        assert path in spec["paths"]
    assert "delete" in spec["paths"]["/api/scans/{scan_id}"]
    assert {"get", "post", "delete"} <= set(spec["paths"]["/api/rules"])
    page = c.get("/api/docs")
    assert page.status_code == 200 and "/api/scans/{scan_id}/packets" in page.text
    assert "cdn" not in page.text.lower()


def test_pages_dashboard_case_and_csv(served, export):
    c, _, scan_id = served
    shop = export[1]
    page = c.get(f"/scans/{scan_id}", params={"shop": shop, "lang": "en"})
    assert page.status_code == 200
    assert page.text.count('<svg class="chart"') == 3
    assert "Smear campaign" in page.text
    zh = c.get(
        f"/scans/{scan_id}", params={"shop": shop}, headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    # the ?lang=en cookie wins over Accept-Language until changed
    assert "Shop dashboard" in zh.text
    c.cookies.delete("rd_lang")
    zh = c.get(
        f"/scans/{scan_id}", params={"shop": shop}, headers={"Accept-Language": "zh-CN,zh;q=0.9"}
    )
    assert "店铺看板" in zh.text and "集中恶意差评" in zh.text
    cases = c.get(f"/api/scans/{scan_id}/cases", params={"shop": shop}).json()["shops"][shop][
        "cases"
    ]
    case_id = cases[0]["case_id"]
    case = c.get(f"/scans/{scan_id}/cases/{case_id}", params={"shop": shop})
    assert case.status_code == 200 and case_id in case.text
    csv = c.get(f"/scans/{scan_id}/cited.csv", params={"shop": shop})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("case_id,kind,order_id")
    assert len(lines) - 1 == sum(len(k["reviews"]) for k in cases)


def test_merchant_export_with_orders_raises_the_attack_alert(tmp_path):
    from benchmarks.exports import build_export, write_export

    export = build_export("douyin", seed=2, n=2000)
    files = write_export(export, tmp_path / "export", fmt="xlsx")
    shop = "我的抖音小店"
    with client(tmp_path / "data") as c, files["reviews"].open("rb") as r:
        with files["orders"].open("rb") as o:
            res = c.post(
                "/api/scans",
                files={"file": ("评价.xlsx", r), "orders": ("订单.xlsx", o)},
                data={"preset": "douyin", "shop": shop},
                headers=API,
            )
        assert res.status_code == 200, res.text
        status = wait(c, res.json()["id"])
        assert status["state"] == "done", status
        scan_id = status["id"]
        alerts = c.get(f"/api/scans/{scan_id}/alerts", params={"shop": shop}).json()["alerts"]
        attack = [a for a in alerts if a["kind"] == "attack"]
        assert attack and all(a["case_ids"] for a in attack)
        body = c.get(f"/api/scans/{scan_id}/cases", params={"shop": shop}).json()
        assert body["timezone"] == "Asia/Shanghai"  # the preset's zone, no zone given
        cases = {k["case_id"]: k for k in body["shops"][shop]["cases"]}
        assert {cid for a in attack for cid in a["case_ids"]} <= set(cases)
        smear = [k for k in cases.values() if k["kind"] == "smear"]
        assert smear
        # the cited reviews as the export shows them: its order id, its local time, its text
        rows = export.reviews.select("订单编号", "评价时间", "评价内容")
        shown = {r[0]: r for r in rows.iter_rows()}
        truth = dict(export.truth.select("order_id", "kind").iter_rows())
        for r in smear[0]["reviews"]:
            order_id, when, text = shown[r["order_id"]]
            assert r["local_time"] == when.replace("/", "-") and r["text"] == text
            assert truth[r["order_id"]] == "smear"
        page = c.get(f"/scans/{scan_id}", params={"shop": shop})
        assert 'class="alert alert-attack"' in page.text
        assert status["options"]["preset"] == "douyin"
        assert 'value="douyin" selected' in page.text  # the packet form offers douyin first


def test_two_uploads_at_once(tmp_path, export):
    with client(tmp_path) as c:
        results: list = [None, None]

        def go(i):
            results[i] = upload(c, export[0], name=f"export-{i}.csv")

        threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        ids = [r.json()["id"] for r in results]
        assert len(set(ids)) == 2
        done = [wait(c, i) for i in ids]
        assert [d["state"] for d in done] == ["done", "done"]
        assert done[0]["rows"] == done[1]["rows"]
        assert {s["id"] for s in c.get("/api/scans").json()} == set(ids)


def test_bad_file_is_refused_and_nothing_kept(tmp_path, export):
    bad = tmp_path / "bad.csv"
    export[2].drop("rating").head(50).write_csv(bad)
    data = tmp_path / "data"
    with client(data) as c:
        res = upload(c, bad)
        assert res.status_code == 422
        assert "rating" in res.json()["detail"]
        assert list((data / "scans").iterdir()) == []
        # the same error on the page, escaped, and the form again
        page = c.get("/")
        form = c.post(
            "/scans",
            files={"file": ("bad.csv", bad.read_bytes(), "text/csv")},
            data={"csrf": c.cookies[CSRF_COOKIE], "timezone": "UTC"},
        )
        assert page.status_code == 200 and form.status_code == 422
        assert 'role="alert"' in form.text and "rating" in form.text
        assert list((data / "scans").iterdir()) == []
        wrong = c.post(
            "/api/scans",
            files={"file": ("reviews.txt", b"x", "text/plain")},
            headers=API,
        )
        assert wrong.status_code == 422 and ".csv" in wrong.json()["detail"]


def test_folder_of_exports(tmp_path, export):
    folder = tmp_path / "exports" / "april"
    folder.mkdir(parents=True)
    export[2].head(1500).write_csv(folder / "part-1.csv")
    export[2].slice(1500).write_csv(folder / "part-2.csv")
    with client(tmp_path) as c:
        page = c.get("/")
        assert '<option value="april">' in page.text
        form = {"folder": "april", "timezone": "UTC", "csrf": c.cookies[CSRF_COOKIE]}
        res = c.post("/scans/folder", data=form, follow_redirects=False)
        assert res.status_code == 303
        status = wait(c, res.headers["location"].rsplit("/", 1)[1])
        assert status["state"] == "done" and status["rows"]["scored"] == export[2].height
        form["folder"] = "../exports"
        assert c.post("/scans/folder", data=form).status_code == 422


def test_rejected_rows_as_csv(tmp_path, export):
    rows = (
        export[2]
        .head(300)
        .with_columns(
            pl.when(pl.int_range(pl.len()) < 3).then(9).otherwise(pl.col("rating")).alias("rating")
        )
    )
    path = tmp_path / "some-bad.csv"
    rows.write_csv(path)
    with client(tmp_path / "data") as c:
        status = wait(c, upload(c, path).json()["id"])
        assert status["state"] == "done" and status["rows"]["rejected"] == 3
        page = c.get(f"/scans/{status['id']}")
        assert f"/scans/{status['id']}/rejected.csv" in page.text
        lines = c.get(f"/scans/{status['id']}/rejected.csv").content.decode("utf-8-sig")
        assert len(lines.splitlines()) == 4 and "rating" in lines.splitlines()[0]


def test_scan_failing_later_keeps_only_its_error(tmp_path, export):
    rows = export[2].head(40).with_columns(pl.lit("not a time").alias("created_at"))
    bad = tmp_path / "times.csv"
    rows.write_csv(bad)
    data = tmp_path / "data"
    with client(data) as c:
        res = upload(c, bad)
        assert res.status_code == 200, res.text
        status = wait(c, res.json()["id"])
        assert status["state"] == "failed" and status["error"]
        kept = sorted(p.name for p in (data / "scans" / status["id"]).iterdir())
        assert kept == ["status.json"]
        page = c.get(f"/scans/{status['id']}")
        assert page.status_code == 200 and status["error"].split(":")[0] in page.text


def test_restart_lists_finished_scans(served):
    c, data, scan_id = served
    with client(data) as again:
        assert [s["id"] for s in again.get("/api/scans").json()] == [scan_id]
        assert again.get(f"/api/scans/{scan_id}").json()["state"] == "done"
        assert again.get(f"/scans/{scan_id}").status_code == 200


def test_a_scan_cut_off_by_a_stop_runs_again_at_start(tmp_path, export):
    from detector.webapp.store import ScanStore

    store = ScanStore(tmp_path)
    scan_id, path = store.create({"timezone": "UTC"}, "export.csv", "upload")
    target = path / "input" / "export.csv"
    target.write_bytes(export[0].read_bytes())
    store.update(scan_id, state="running", inputs=[str(target)])  # the server died here
    with client(tmp_path) as c:
        status = wait(c, scan_id)
    assert status["state"] == "done" and status["rows"]["scored"] == export[2].height


def test_stopping_the_server_ends_a_running_scan_cleanly(tmp_path):
    reviews, _ = generate(20_000, seed=5)
    path = tmp_path / "big.csv"
    reviews.write_csv(path)
    data = tmp_path / "data"
    with client(data) as c:
        scan_id = upload(c, path).json()["id"]
        end = time.monotonic() + 120
        while c.get(f"/api/scans/{scan_id}").json()["progress"].get("stage") in (None, "load"):
            assert time.monotonic() < end
            time.sleep(0.1)
        t0 = time.monotonic()
    stopped = time.monotonic() - t0  # the client's exit stops the server
    status = json.loads((data / "scans" / scan_id / "status.json").read_text())
    assert status["state"] == "running" and stopped < 20
    out = data / "scans" / scan_id / "scan"
    assert not (out / "summary.json").exists()
    # the stopped scan removed its staging and published nothing
    leftovers = [p.name for p in out.parent.rglob("*") if "staging" in p.name]
    assert leftovers == [] and not list(out.parent.rglob("summary.json"))
    with client(data) as again:  # and it runs again at the next start
        assert wait(again, scan_id)["state"] == "done"


def test_progress_only_moves_forward(tmp_path, export):
    from detector.scan import run_scan
    from detector.webapp.jobs import StatusProgress
    from detector.webapp.store import ScanStore

    store = ScanStore(tmp_path)
    scan_id, _ = store.create({}, None, "upload")
    seen: list[tuple[float, str | None]] = []

    class Recording(StatusProgress):
        def snapshot(self):
            snap = super().snapshot()
            seen.append((snap["fraction"], snap["stage"]))
            return snap

    run_scan(export[0], tmp_path / "out", progress=Recording(store, scan_id))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and 0 <= fractions[0] < 0.2 and fractions[-1] >= 0.9
    stages = [s for _, s in seen if s]
    assert stages[0] == "load" and "features" in stages and "write" in stages
    assert store.status(scan_id)["progress"]["fraction"] == fractions[-1]


def test_token_required_off_localhost(tmp_path):
    token = "s3cret-token"
    with TestClient(
        asgi(Settings(data=tmp_path, token=token, loopback_only=False)),
        base_url="http://192.0.2.1:8765",
    ) as c:
        assert c.get("/api/scans").status_code == 401
        assert c.get("/static/app.css").status_code == 401
        assert c.get("/api/scans", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = c.get("/api/scans", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json() == []
        first = c.get("/", params={"token": token})
        assert first.status_code == 200
        assert c.get("/").status_code == 200  # the link's token is kept in a cookie


def test_csrf_and_api_post_headers(tmp_path, export):
    with client(tmp_path) as c:
        c.get("/")
        files = {"file": ("export.csv", export[0].read_bytes(), "text/csv")}
        assert c.post("/scans", files=files, data={"timezone": "UTC"}).status_code == 403
        assert c.post("/scans", files=files, data={"csrf": "forged"}).status_code == 403
        # an API POST without a header a cross-site form cannot send
        assert c.post("/api/scans", files=files).status_code == 403
        assert list((tmp_path / "scans").iterdir()) == []


def test_ids_never_steer_a_path(served):
    c, _, scan_id = served
    for bad in ("..", "..%2F..%2Fetc%2Fpasswd", "%2e%2e", "20261203-184141-c1ef60cd", "x" * 300):
        assert c.get(f"/api/scans/{bad}").status_code == 404, bad
        assert c.get(f"/api/scans/{bad}/cases").status_code == 404, bad
    for bad in ("..%2F..%2Fsummary", "generic-zh-..", "douyin-zh-0123456789ab"):
        assert c.get(f"/scans/{scan_id}/packets/{bad}").status_code == 404, bad
        assert c.get(f"/scans/{scan_id}/packets/{bad}.zip").status_code == 404, bad
    assert c.get(f"/scans/{scan_id}/cases/..%2F..", params={"shop": "x"}).status_code == 404


def test_other_hosts_and_large_uploads_refused(tmp_path):
    with client(tmp_path, max_upload_mb=1) as c:
        assert c.get("/", headers={"Host": "evil.example"}).status_code == 421
        big = b"review_id,rating\n" + b"r,5\n" * 400_000
        res = c.post("/api/scans", files={"file": ("big.csv", big, "text/csv")}, headers=API)
        assert res.status_code == 413
        assert list((tmp_path / "scans").iterdir()) == []


def test_security_headers(served):
    c, _, scan_id = served
    res = c.get(f"/scans/{scan_id}")
    csp = res.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert res.headers["x-frame-options"] == "DENY"
    assert res.headers["x-content-type-options"] == "nosniff"


def test_demo_folder_and_imported_scans_are_shown(tmp_path, export):
    from detector.scan import run_scan

    demo = tmp_path / "demo-out"
    run_scan(export[0], demo / "scan")  # the demo's layout: DATA/scan
    with client(demo) as c:
        listed = c.get("/api/scans").json()
        assert [s["source"] for s in listed] == ["import"] and listed[0]["state"] == "done"
        scan_id = listed[0]["id"]
        assert c.get(f"/scans/{scan_id}", params={"shop": export[1]}).status_code == 200
        res = c.post(f"/api/scans/{scan_id}/packets", data={"shop": export[1]}, headers=API)
        assert res.status_code == 200
    assert (demo / "scans" / scan_id / "packets").is_dir()  # packets under the data folder
    with client(demo) as again:  # imported once, not again per start
        assert [s["id"] for s in again.get("/api/scans").json()] == [scan_id]
    with pytest.raises(Exception, match="not a scan directory"):
        client(tmp_path / "other", imports=[tmp_path / "nowhere"])


def test_serve_off_localhost_needs_and_prints_a_token(tmp_path, monkeypatch, capsys):
    import uvicorn

    from detector.cli import main

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    assert main(["serve", "--host", "0.0.0.0", "--port", "9", "--data", str(tmp_path)]) == 0
    token = started["app"].token
    assert started["host"] == "0.0.0.0" and token and len(token) >= 24
    assert f"?token={token}" in capsys.readouterr().err
    assert main(["serve", "--data", str(tmp_path), "--port", "9"]) == 0
    assert started["host"] == "127.0.0.1" and started["app"].token is None
    assert started["app"].loopback_only


def test_serve_is_a_subcommand():
    args = build_parser().parse_args(
        ["serve", "--port", "0", "--data", "d", "--max-upload-mb", "5"]
    )
    assert args.command == "serve" and args.host == "127.0.0.1" and args.max_upload_mb == 5
    for bad in ("0", "-3", "lots"):
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args(["serve", "--max-upload-mb", bad])
        assert exit_.value.code == 2


def _finished(store, state: str = "done") -> str:
    """A scan record in ``state`` with a file and a packet folder, without running a scan."""
    scan_id, path = store.create({"timezone": "UTC"}, "export.csv", "upload")
    (path / "input" / "export.csv").write_text("review_id\n", encoding="utf-8")
    (path / "packets" / "generic-zh-0123456789ab").mkdir(parents=True)
    store.update(scan_id, state=state)
    return scan_id


def test_delete_a_scan_from_the_api_and_the_page(tmp_path):
    from detector.webapp.store import ScanStore

    store = ScanStore(tmp_path)
    done, failed = _finished(store), _finished(store, "failed")
    with client(tmp_path) as c:
        queued = _finished(store, "queued")  # after the start: the runner never picks it up
        assert c.delete(f"/api/scans/{done}").status_code == 403  # no API header
        res = c.delete(f"/api/scans/{done}", headers=API)
        assert res.status_code == 200 and res.json() == {"id": done, "deleted": True}
        assert not (tmp_path / "scans" / done).exists()
        assert c.get(f"/api/scans/{done}").status_code == 404
        assert c.delete(f"/api/scans/{done}", headers=API).status_code == 404
        assert c.delete(f"/api/scans/{queued}", headers=API).status_code == 409
        assert (tmp_path / "scans" / queued / "status.json").is_file()
        page = c.get("/")
        assert f'action="/scans/{failed}/delete"' in page.text
        assert f'action="/scans/{queued}/delete"' not in page.text  # not while queued
        form = {"csrf": "forged"}
        assert c.post(f"/scans/{failed}/delete", data=form).status_code == 403
        form["csrf"] = c.cookies[CSRF_COOKIE]
        res = c.post(f"/scans/{failed}/delete", data=form, follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"] == "/"
        assert [s["id"] for s in c.get("/api/scans").json()] == [queued]
    assert sorted(p.name for p in (tmp_path / "scans").iterdir()) == [queued]


def test_deleting_never_escapes_the_data_folder(tmp_path):
    from detector.webapp.store import ScanStore, new_id

    data, outside = tmp_path / "data", tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine", encoding="utf-8")
    store = ScanStore(data)
    # a scan whose folder holds a link out of the data folder: the link goes, not its target
    linked = _finished(store)
    (data / "scans" / linked / "scan").symlink_to(outside, target_is_directory=True)
    # a scan id that is itself a link to a folder outside, with a status in it
    alias = new_id()
    (outside / "status.json").write_text(json.dumps({"id": alias, "state": "done"}), "utf-8")
    (data / "scans" / alias).symlink_to(outside, target_is_directory=True)
    # an imported scan: its own directory is the user's
    imported_dir = tmp_path / "demo-scan"
    imported_dir.mkdir()
    (imported_dir / "summary.json").write_text('{"rows": {}}', encoding="utf-8")
    imported = store.import_scan(imported_dir)
    with client(data) as c:
        for bad in ("..", "%2e%2e", "..%2F..%2Foutside", "20261203-184141-c1ef60cd", "x" * 300):
            assert c.delete(f"/api/scans/{bad}", headers=API).status_code in (404, 405), bad
        assert c.delete(f"/api/scans/{linked}", headers=API).status_code == 200
        assert c.delete(f"/api/scans/{alias}", headers=API).status_code == 404
        assert c.delete(f"/api/scans/{imported}", headers=API).status_code == 200
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt", "status.json"]
    assert (imported_dir / "summary.json").is_file()
    assert sorted(p.name for p in (data / "scans").iterdir()) == [alias, "forgotten.json"]
    # a deleted import is not imported again at the next start; a new scan there is
    with client(data, imports=[imported_dir]) as c:
        assert [s["id"] for s in c.get("/api/scans").json()] == [alias]
    (imported_dir / "summary.json").write_text('{"rows": {"input": 5}}', encoding="utf-8")
    with client(data, imports=[imported_dir]) as c:
        assert sorted(s.get("source", "") for s in c.get("/api/scans").json()) == ["", "import"]


RULES_OFF = b"[rules.attack_burst]\nenabled = false\n[rules.good_rate_target]\nthreshold = 0.9\n"


def test_choose_the_alert_rules_in_the_app(served):
    c, data, scan_id = served
    default = c.get("/api/rules").json()
    assert default["file"] is None
    names = {r["name"] for r in default["rules"]}
    assert {"attack_burst", "bad_review_growth", "pdd_bad_rate"} <= names
    before = c.get(f"/api/scans/{scan_id}/alerts").json()["alerts"]
    assert any(a["rule"] == "attack_burst" for a in before)  # the planted smear
    try:
        res = c.post("/api/rules", files={"file": ("我的规则.toml", RULES_OFF)}, headers=API)
        assert res.status_code == 200 and res.json()["file"] == "我的规则.toml"
        rules = {r["name"]: r for r in res.json()["rules"]}
        assert "attack_burst" not in rules and rules["good_rate_target"]["threshold"] == 0.9
        after = c.get(f"/api/scans/{scan_id}/alerts").json()["alerts"]
        assert after and not any(a["rule"] == "attack_burst" for a in after)
        page = c.get(f"/scans/{scan_id}", params={"lang": "en"})
        assert "我的规则.toml" in page.text and 'data-rule="attack_burst"' not in page.text
        # a bad file: the rule and key named, the choice unchanged
        bad = b"[rules.pdd_bad_rate]\nthreshold = 7\n"
        res = c.post("/api/rules", files={"file": ("bad.toml", bad)}, headers=API)
        assert res.status_code == 422
        assert "pdd_bad_rate" in res.json()["detail"] and "threshold" in res.json()["detail"]
        assert c.get("/api/rules").json()["file"] == "我的规则.toml"
        assert c.post("/api/rules", files={"file": ("r.toml", RULES_OFF)}).status_code == 403
    finally:
        assert c.delete("/api/rules", headers=API).json()["file"] is None
    assert c.get(f"/api/scans/{scan_id}/alerts").json()["alerts"] == before
    assert sorted(p.name for p in (data / "rules").iterdir()) == []


def test_choose_the_alert_rules_on_the_page(tmp_path):
    with client(tmp_path) as c:
        page = c.get("/rules", params={"lang": "en"})
        assert page.status_code == 200 and "The default rules" in page.text
        assert 'data-rule="attack_burst"' in page.text
        csrf = c.cookies[CSRF_COOKIE]
        hostile = "<img src=x onerror=alert(1)>.toml"
        files = {"file": (hostile, b"[rules.attack_burst\n")}
        res = c.post("/rules", files=files, data={"csrf": csrf})
        assert res.status_code == 422 and 'role="alert"' in res.text and "TOML" in res.text
        assert "<img src=x" not in res.text and "&lt;img src=x" in res.text
        files = {"file": ("mine.toml", RULES_OFF)}
        assert c.post("/rules", files=files, data={"csrf": "forged"}).status_code == 403
        res = c.post("/rules", files=files, data={"csrf": csrf}, follow_redirects=False)
        assert res.status_code == 303
        page = c.get("/rules")
        assert "mine.toml" in page.text and 'data-rule="attack_burst"' not in page.text
        assert c.post("/rules/reset", data={"csrf": "forged"}).status_code == 403
        c.post("/rules/reset", data={"csrf": csrf})
        assert c.get("/api/rules").json()["file"] is None
