"""What a merchant's packet cites on seller-centre exports with known ground truth.

For each seed and file format: :func:`benchmarks.exports.build_export` makes a
shop's review and order export with a planted smear, a genuine defect batch and
a flash sale; ``review-detector scan --preset P --shop … --orders …`` and
``review-detector evidence --platform douyin`` run on it as a merchant would;
the cited reviews (by the merchant's order id) are checked against the truth,
and counted by what they are shown with (their links' reasons, or none).

    python -m benchmarks.packets --platform douyin --seeds 101,102,103 --formats csv,xlsx

prints one line per run and a total: smear recall (share of the planted smear
cited), precision (share of citations that are smear), and how many reviews of
the defect batch and of the flash sale were cited. Issue 11's target: recall >=
0.85, precision >= 0.90, at most 2 defect or flash reviews, from CSV and xlsx.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from benchmarks.exports import build_export, write_export

SHOP = "my-shop"


@dataclass
class PacketRun:
    platform: str
    seed: int
    fmt: str
    n_smear: int
    cited: int
    smear: int
    defect: int
    flash: int
    other: int
    seconds: float
    linked: int = 0  # cited reviews shown with their links' reasons (none of their own)
    bare: int = 0  # cited reviews shown with no reason at all (never, when packets are right)

    @property
    def recall(self) -> float:
        return self.smear / self.n_smear if self.n_smear else 0.0

    @property
    def precision(self) -> float:
        return self.smear / self.cited if self.cited else 0.0

    def line(self) -> str:
        return (
            f"{self.platform:7s} seed {self.seed:<5d} {self.fmt:4s}  smear {self.smear:3d}/{self.n_smear:<3d} "
            f"recall {self.recall:.2f}  precision {self.precision:.2f}  defect {self.defect}  "
            f"flash {self.flash}  honest {self.other}  link-reasoned {self.linked}  "
            f"unreasoned {self.bare}  ({self.seconds:.1f} s)"
        )


def run_packet(platform: str, seed: int, fmt: str, root: Path, n: int = 2000) -> PacketRun:
    """Export, scan and build the douyin packet for one seed; what it cited."""
    from detector.cli import main

    t0 = time.perf_counter()
    export = build_export(platform, seed=seed, n=n)
    paths = write_export(export, root / f"{platform}-{seed}-{fmt}", fmt=fmt)
    scan, packet = root / f"scan-{seed}-{fmt}", root / f"packet-{seed}-{fmt}"
    quiet = contextlib.redirect_stdout(io.StringIO())
    with quiet, contextlib.redirect_stderr(io.StringIO()):
        code = main(
            ["scan", str(paths["reviews"]), "--out", str(scan), "--preset", platform]
            + ["--shop", SHOP, "--orders", str(paths["orders"]), "--quiet"]
        )
        if code != 0:
            raise RuntimeError(f"scan of {paths['reviews']} exited {code}")
        code = main(
            ["evidence", str(scan), "--shop", SHOP, "--out", str(packet)]
            + ["--platform", "douyin", "--quiet", "--lang", "zh"]
        )
    cited: set[str] = set()
    reasons: list[list[dict]] = []
    if code == 0:
        data = json.loads((packet / "packet.json").read_text(encoding="utf-8"))
        cited = {r["order_id"] or r["review_id"] for c in data["cases"] for r in c["reviews"]}
        reasons = [r["reasons"] for c in data["cases"] for r in c["reviews"]]
    elif code != 3:  # 3: nothing to file
        raise RuntimeError(f"evidence for seed {seed} exited {code}")
    truth = export.truth
    kinds = truth.filter(pl.col("order_id").is_in(sorted(cited)))["kind"].value_counts()
    got = dict(kinds.iter_rows())
    return PacketRun(
        platform,
        seed,
        fmt,
        int((truth["kind"] == "smear").sum()),
        len(cited),
        got.get("smear", 0),
        got.get("defect", 0),
        got.get("flash", 0),
        got.get("honest", 0),
        time.perf_counter() - t0,
        sum(bool(x) and all(y.get("link") for y in x) for x in reasons),
        sum(not x for x in reasons),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--platform", default="douyin")
    ap.add_argument("--seeds", default="101,102,103")
    ap.add_argument("--formats", default="csv,xlsx")
    ap.add_argument("--reviews", type=int, default=2000)
    args = ap.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            for fmt in args.formats.split(","):
                run = run_packet(args.platform, seed, fmt, Path(tmp), args.reviews)
                print(run.line(), flush=True)
                runs.append(run)
    smear = sum(r.smear for r in runs)
    cited = sum(r.cited for r in runs)
    total = sum(r.n_smear for r in runs)
    print(
        f"total: smear {smear}/{total} cited (recall {smear / max(total, 1):.2f}), precision "
        f"{smear / max(cited, 1):.2f}, defect {sum(r.defect for r in runs)}, flash "
        f"{sum(r.flash for r in runs)}, worst run: recall {min(r.recall for r in runs):.2f}, "
        f"defect+flash {max(r.defect + r.flash for r in runs)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
