"""What the pages show of a finished scan: a shop's days, its cases and packets.

Nothing here re-implements the engine: cases and their reasons come from
:func:`detector.evidence.build_packet` (the merchant's language, the true
numbers behind every reason), packets are written by
:func:`detector.evidence.write_packet`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from detector.atomic import atomic_path
from detector.evidence import NoCasesError, PacketOptions, build_packet, write_packet
from detector.evidence.platforms import PLATFORMS
from detector.evidence.scanload import ScanBundle, load_scan
from detector.evidence.writer import cell as csv_cell
from detector.monitor import Rule, daily_metrics, evaluate_alerts, load_rules, scan_context
from detector.webapp.charts import Series, chart
from detector.webapp.i18n import t

#: Case kinds that attack the shop they review (the others inflate it).
ATTACKS = ("smear", "pro_negative")
#: A packet directory's name: platform, language and a digest of the shop.
PACKET_NAME = re.compile(r"^(?P<platform>[a-z]+)-(?P<lang>zh|en)-(?P<shop>[0-9a-f]{12})$")


def packet_name(shop: str, platform: str, lang: str) -> str:
    """The directory name of a packet (no shop text in it: a digest)."""
    digest = hashlib.sha256(shop.encode("utf-8")).hexdigest()[:12]
    return f"{platform}-{lang}-{digest}"


@dataclass
class ShopCases:
    """A shop's cases as the packet presents them, or why there are none."""

    shop: str
    lang: str
    data: dict | None  # packet.data, or None
    note: str | None = None


@dataclass
class ScanView:
    """A loaded scan (its outputs and its re-read input), with per-shop caches."""

    scan_id: str
    bundle: ScanBundle
    _cases: dict = field(default_factory=dict)
    _daily: pl.DataFrame | None = None
    _alerts: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # the zone the scan read the export's naive times in, and its platform (monitor's rules)
        self.timezone, self.platform = scan_context(self.bundle.summary)

    # -- shops -----------------------------------------------------------------
    def shops(self) -> list[dict]:
        """Shops with their reviews, the reviews in linked cases and those in attack cases;
        attacked shops first."""
        reviews = self.bundle.reviews.select("review_id", "shop_id")
        table = (
            reviews.with_columns(
                pl.col("review_id").is_in(self.case_review_ids().implode()).alias("_in"),
                pl.col("review_id").is_in(self.case_review_ids(ATTACKS).implode()).alias("_at"),
            )
            .group_by("shop_id")
            .agg(
                pl.len().alias("reviews"),
                pl.col("_in").sum().alias("in_cases"),
                pl.col("_at").sum().alias("in_attacks"),
            )
            .sort(
                ["in_attacks", "in_cases", "reviews", "shop_id"],
                descending=[True, True, True, False],
            )
        )
        return table.to_dicts()

    def case_review_ids(self, kinds: tuple[str, ...] | None = None) -> pl.Series:
        """Reviews in linked cases (two reviews or more), of ``kinds`` when given."""
        cases = self.bundle.cases.filter(pl.col("n_reviews") > 1)
        if kinds is not None:
            cases = cases.filter(pl.col("kind").is_in(kinds))
        return cases.select(pl.col("review_ids").explode()).to_series().unique().sort()

    def has_shop(self, shop: str) -> bool:
        return shop in set(self.bundle.reviews["shop_id"].unique().to_list())

    # -- days and alerts (the monitor's) ---------------------------------------------
    def all_days(self) -> pl.DataFrame:
        """The monitor's daily table of every shop, cached."""
        with self._lock:
            if self._daily is None:
                self._daily = daily_metrics(
                    self.bundle.reviews, self.bundle.scores, self.bundle.cases, self.timezone
                )
            return self._daily

    def alerts(self, rules: tuple[str, list[Rule]] | None = None) -> list[dict]:
        """The monitor's alerts under ``rules`` (its key and the rules; None: the defaults),
        cached per key."""
        key, rule_list = rules if rules is not None else ("defaults", load_rules())
        daily = self.all_days()
        with self._lock:
            if key not in self._alerts:
                self._alerts[key] = evaluate_alerts(daily, rule_list, self.platform)[0]
            return self._alerts[key]

    def daily(self, shop: str) -> pl.DataFrame:
        """The monitor's days of ``shop`` (in the export's zone) on a full calendar: a day
        without reviews is a row with nulls, so a chart's line breaks there."""
        days = self.all_days().filter(pl.col("shop_id") == shop)
        if days.height == 0:
            return days
        lo, hi = days["date"].min(), days["date"].max()
        calendar = pl.DataFrame({"date": pl.date_range(lo, hi, "1d", eager=True)})
        counts = ["reviews", "negative", "reviews_clean", "negative_clean"]
        return (
            calendar.join(days, on="date", how="left")
            .with_columns(pl.col(counts).fill_null(0))
            .sort("date")
        )

    def charts(self, shop: str, lang: str) -> list:
        d = self.daily(shop)
        days = [str(x) for x in d["date"].to_list()]
        a, c = t("all_reviews", lang), t("without_cases", lang)

        def two(col: str) -> list[Series]:
            return [
                Series(a, d[col].to_list(), "all"),
                Series(c, d[f"{col}_clean"].to_list(), "clean"),
            ]

        return [
            chart(t("positive_rate", lang), days, two("good_rate"), "pct", (0.0, 1.0)),
            chart(t("mean_rating", lang), days, two("rating_mean"), "num", (1.0, 5.0)),
            chart(t("negatives", lang), days, two("negative"), "int", bars=True),
        ]

    # -- cases -------------------------------------------------------------------
    def cases(self, shop: str, lang: str) -> ShopCases:
        """The cases harming ``shop`` (as its packet would file them), cached."""
        key = (shop, lang)
        with self._lock:
            if key not in self._cases:
                try:
                    packet = build_packet(self.bundle, PacketOptions(shop=shop, lang=lang))
                    self._cases[key] = ShopCases(shop, lang, self._localise(packet.data))
                except NoCasesError as exc:
                    self._cases[key] = ShopCases(shop, lang, None, str(exc))
            return self._cases[key]

    def _localise(self, data: dict) -> dict:
        """Packet data plus each cited review as the export shows it: order id, local time."""
        zone = ZoneInfo(self.timezone)
        reviews = self.bundle.reviews
        order = (
            dict(zip(reviews["review_id"].to_list(), reviews["order_id"].to_list(), strict=True))
            if "order_id" in reviews.columns
            else {}
        )

        def local(iso: str) -> str:
            ts = datetime.fromisoformat(iso.replace("Z", "+00:00"))
            return ts.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

        for case in data["cases"]:
            case["local_start"], case["local_end"] = local(case["start"]), local(case["end"])
            for r in case["reviews"]:
                r["local_time"] = local(r["created_at"])
                r["order_id"] = order.get(r["review_id"])
        return data

    def case(self, shop: str, lang: str, case_id: str) -> dict | None:
        sc = self.cases(shop, lang)
        if sc.data is None:
            return None
        return next((c for c in sc.data["cases"] if c["case_id"] == case_id), None)

    def cited_csv(self, shop: str, lang: str) -> str:
        """The shop's cited reviews as CSV (UTF-8 with BOM; no cell a spreadsheet runs)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(
            [
                "case_id",
                "kind",
                "order_id",
                "review_id",
                f"time ({self.timezone})",
                "rating",
                "text",
                "reasons",
            ]
        )
        sc = self.cases(shop, lang)
        for c in (sc.data or {}).get("cases", []):
            for r in c["reviews"]:
                w.writerow(
                    [
                        csv_cell(x)
                        for x in (
                            c["case_id"],
                            c["kind_label"],
                            r["order_id"],
                            r["review_id"],
                            r["local_time"],
                            r["rating"],
                            r["text"],
                            "; ".join(x["text"] for x in r["reasons"]),
                        )
                    ]
                )
        return "\ufeff" + buf.getvalue()

    def rejected_csv(self) -> str | None:
        """The rows the scan rejected, with their reason, as CSV (None when it rejected none)."""
        path = self.bundle.scan_dir / "rejected.parquet"
        if not path.is_file():
            return None
        rejected = pl.read_parquet(path)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(rejected.columns)
        for row in rejected.iter_rows():
            w.writerow([csv_cell(x) for x in row])
        return "\ufeff" + buf.getvalue()

    # -- packets -------------------------------------------------------------------
    def build(self, scan_dir: Path, shop: str, platform: str, lang: str) -> tuple[str, Path]:
        """Build and write the packet and its zip; returns its name and directory.

        :class:`~detector.evidence.NoCasesError` when the shop has nothing to file.
        """
        if platform not in PLATFORMS:
            raise ValueError(platform)
        name = packet_name(shop, platform, lang)
        root = scan_dir / "packets"
        out = root / name
        packet = build_packet(self.bundle, PacketOptions(shop=shop, lang=lang, platform=platform))
        write_packet(packet, out)
        with atomic_path(root / f"{name}.zip") as tmp:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(out.rglob("*")):
                    if f.is_file():
                        zf.write(f, f"{name}/{f.relative_to(out).as_posix()}")
        return name, out


def read_packet(scan_dir: Path, name: str) -> tuple[Path, dict]:
    """A written packet's directory and ``packet.json`` (``name`` checked and looked up)."""
    if not PACKET_NAME.fullmatch(name or ""):
        raise LookupError(name)
    root = scan_dir / "packets"
    found = [p for p in root.iterdir() if p.name == name] if root.is_dir() else []
    if not found or not (found[0] / "packet.json").is_file():
        raise LookupError(name)
    return found[0], json.loads((found[0] / "packet.json").read_text(encoding="utf-8"))


class ViewCache:
    """A few loaded scans kept in memory (a load re-reads and re-hashes the input)."""

    def __init__(self, size: int = 4):
        self.size = size
        self._views: OrderedDict[str, ScanView] = OrderedDict()
        self._lock = threading.Lock()

    def drop(self, scan_id: str) -> None:
        """Forget a scan (deleted)."""
        with self._lock:
            self._views.pop(scan_id, None)

    def get(self, scan_id: str, scan_dir: Path) -> ScanView:
        with self._lock:
            view = self._views.get(scan_id)
            if view is not None:
                self._views.move_to_end(scan_id)
                return view
        view = ScanView(scan_id, load_scan(scan_dir))
        with self._lock:
            self._views[scan_id] = view
            while len(self._views) > self.size:
                self._views.popitem(last=False)
        return view
