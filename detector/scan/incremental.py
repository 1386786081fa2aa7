"""Incremental scans: score only the input partitions not seen before.

``review-detector scan INPUT --out OUT --incremental STATE_DIR [--rebuild-state]``

STATE_DIR holds everything a later run needs, and proves it::

    state.json                      the manifest, written last (the commit point): the
                                    configuration the state was built with, every file it
                                    references with its size and SHA-256, the seen
                                    partitions (path, size, mtime, SHA-256, run), the
                                    threshold, the output version it goes with, and a
                                    SHA-256 of the manifest itself
    model-<build>.joblib            the fitted forest, its feature list and engine version
    history/<build>-<run>.parquet   narrow columns of every review scored so far
    history/first-<build>-<run>.parquet  the first review of every order seen (order id,
                                    created_at, content digest), for inputs without a
                                    review id: a later partition's 追评 of an order seen
                                    before gets ``<order>-<h8>``, as in one full load

Before any work a run checks the state: a missing, truncated or edited file
(``state.json`` included), another state format, a configuration that would
change results (seed, forest, families, threshold, column map, time window,
partitioning, engine version), or an ``OUT`` that does not hold this state's
output is refused (:class:`StateError`, exit 2) with what is wrong and how to
rebuild: ``--rebuild-state`` (``rebuild=True``) discards the state and scans
every partition afresh into a new output. A state directory without
``state.json`` is accepted as new only when it holds none of these files and
``OUT`` holds no incremental output: never a silent rescan into duplicates.

What a run does
---------------
1. Lists the input files (each file is a partition). A file whose size and
   mtime match the state is unchanged; when only the mtime moved, the SHA-256
   decides. A *changed* seen partition is an error (an incremental scan only
   adds partitions; ``--rebuild-state`` rescans). No new partition: nothing is
   read or written, and the CLI says so.
2. Loads and validates only the new partitions. A review id already in the
   history is rejected as ``duplicate review_id (first kept)``, as a full
   scan over all partitions would.
3. Computes features of the new reviews over *history + new reviews*: every
   global table is rebuilt from the compact history store, so a burst window
   or a ring spanning a partition boundary, and a user's history, count
   exactly as in a full scan.
4. Scores the new reviews with the stored model (no refit) and flags them with
   the stored threshold; propagation and cases run over the new reviews.
5. Publishes a new version of OUT (:mod:`detector.publish`): the earlier
   runs' files (hard links) plus ``scores/month=*/part-<run>.parquet``,
   ``features/month=*/part-<run>.parquet``, ``runs/<run>/`` (this run's
   summary, cases, explanations, rejects) and ``summary.json``.

Commit order: the new output version is written in full and put beside the
current one; the history part (and, on the first run, the model) is written;
``state.json`` is committed naming that version; then OUT is switched to it.
A run killed before the commit leaves state and OUT as they were (the next
run redoes it); killed after it, the next run finishes the switch first.
Readers of OUT see one run's output or the next, never a mix.

Not recomputed: loading and validating seen partitions, the model fit, the
threshold, and the scores of earlier reviews (they keep the score they got,
even if later reviews would now add context to them). The first run (empty
STATE_DIR) is a full scan that fits and stores the model.

History holds per review only what the global tables read: ids, rating,
time, ip, device and - for texts long enough to be template candidates only -
the text (other texts never reach a cross-review table).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path

import polars as pl

from detector import __version__
from detector.atomic import atomic_path, try_lock, write_json
from detector.engines import Engine, get_engine
from detector.errors import InputError
from detector.hashing import file_sha256
from detector.input.files import resolve_inputs
from detector.input.plan import first_reviews
from detector.input.rejects import NoRowsError
from detector.partition import PARTITIONED_OUTPUTS
from detector.publish import OutputError, Publication, check_writable_dir, stop_point, write_errno
from detector.scan.config import ScanConfig
from detector.scan.history import Prior
from detector.scan.output import keeps_foreign
from detector.scan.run import stage_or_rejects
from detector.scan.scoring import GivenModel
from models.persist import ModelMismatch, load_model, save_model

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: 3: the first reviews of orders are kept (history/first-*.parquet).
STATE_VERSION = 3
STATE_FILE = "state.json"
#: Held (flock) by the run using the state.
LOCK_FILE = ".lock"
HISTORY_DIR = "history"
RUNS_DIR = "runs"
#: What every refusal of a state says to do.
REBUILD = (
    "to rebuild, run the same command with --rebuild-state (it rescans every input partition, "
    "refits the model and replaces the incremental output in --out), or restore the state "
    "directory and --out from a backup"
)


class StateError(InputError):
    """A damaged, missing or mismatched incremental state (exit 2); says how to rebuild."""


# --------------------------------------------------------------------------- state


def history_columns() -> list[str]:
    """Contract columns any global table reads (plus ``review_id``), in contract order."""
    from detector.input.schema import CONTRACT
    from features.registry import REGISTRY

    need = {"review_id"}
    for table in REGISTRY.tables.values():
        need.update(table.requires)
    return [c for c in CONTRACT if c in need]


def compact_history(reviews: pl.DataFrame) -> pl.DataFrame:
    """The history rows of ``reviews``: narrow columns, text only where it is a template."""
    from features.textnorm import is_template_candidate, normalize_text

    cols = [c for c in history_columns() if c in reviews.columns]
    out = reviews.select(cols)
    if "text" in out.columns:
        norm = normalize_text(pl.col("text").fill_null(""))
        out = out.with_columns(
            pl.when(is_template_candidate(norm)).then(pl.col("text")).alias("text")
        )
    return out


def config_fingerprint(config: ScanConfig) -> dict:
    """Everything a state's results depend on besides the input: compared on every run.

    The scan's configuration (:meth:`ScanConfig.to_dict`: parameters, how the
    input is read, the output partitioning; not the in-core/out-of-core mode),
    the engine version, the feature windows and the columns the history keeps.
    The engine that runs the scan (polars, ray) is not part of it: engines give
    the same values.
    """
    from features import params

    sections = {k: v for k, v in config.to_dict().items() if k != "mode"}
    windows = {k: getattr(params, k) for k in dir(params) if k.isupper()}
    record = {
        "engine_version": __version__,
        **sections,
        "windows": windows,
        "history_columns": history_columns(),
    }
    return json.loads(json.dumps(record, default=str, sort_keys=True))


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """``key: old -> new`` for every leaf of two fingerprints that differs."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def _checksum(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_record(path: Path) -> dict:
    return {"bytes": path.stat().st_size, "sha256": file_sha256(path)}


@dataclasses.dataclass
class State:
    """The contents of STATE_DIR, verified when opened (:meth:`open`)."""

    root: Path
    manifest: dict

    @classmethod
    def new(cls, root: str | os.PathLike) -> State:
        build = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
        return cls(
            Path(root),
            {"version": STATE_VERSION, "build": build, "runs": 0, "partitions": {}, "files": {}},
        )

    @classmethod
    def open(cls, root: str | os.PathLike, fingerprint: dict | None = None) -> State:
        """The state in ``root``, every piece checked; :class:`StateError` when any is wrong.

        Without ``state.json`` the state is new, unless ``root`` holds state
        files (then ``state.json`` was lost). ``fingerprint`` (see
        :func:`config_fingerprint`) must equal the one the state was built with.
        """
        root = Path(root)
        path = root / STATE_FILE
        if not path.exists():
            leftovers = sorted(
                p.name for p in root.glob("*") if p.name.startswith(("model", HISTORY_DIR))
            )
            if leftovers:
                raise StateError(
                    f"{path} is missing but {root} holds state files ({', '.join(leftovers)}): "
                    f"the state is damaged; {REBUILD}"
                )
            return cls.new(root)
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateError(f"{path} is not a readable state file ({exc}); {REBUILD}") from None
        if not isinstance(manifest, dict) or manifest.get("version") != STATE_VERSION:
            version = manifest.get("version") if isinstance(manifest, dict) else None
            raise StateError(
                f"{path} is state format {version!r}, this version reads format {STATE_VERSION} "
                f"(with checksums); {REBUILD}"
            )
        if manifest.get("checksum") != _checksum(manifest):
            raise StateError(
                f"{path} was edited or damaged: its contents do not match its checksum; {REBUILD}"
            )
        state = cls(root, manifest)
        state.verify_files()
        if fingerprint is not None and manifest.get("config") != fingerprint:
            changed = _differences(manifest.get("config") or {}, fingerprint)
            raise StateError(
                f"the configuration differs from the one {root} was built with "
                f"({'; '.join(changed)}): results would mix two configurations. Run with the "
                f"original options, use a new --incremental directory and --out, or {REBUILD}"
            )
        return state

    def verify_files(self) -> None:
        """Every file the manifest references exists with its recorded size and SHA-256."""
        for name, rec in sorted(self.manifest.get("files", {}).items()):
            path = self.root / name
            if not path.is_file():
                raise StateError(f"state file {path} is missing; {REBUILD}")
            size = path.stat().st_size
            if size != rec["bytes"]:
                raise StateError(
                    f"state file {path} is truncated or changed ({size:,} bytes, the state "
                    f"recorded {rec['bytes']:,}); {REBUILD}"
                )
            if file_sha256(path) != rec["sha256"]:
                raise StateError(
                    f"state file {path} changed since it was written (SHA-256 differs); {REBUILD}"
                )

    @property
    def runs(self) -> int:
        return int(self.manifest.get("runs", 0))

    @property
    def partitions(self) -> dict[str, dict]:
        return self.manifest.setdefault("partitions", {})

    @property
    def output(self) -> dict:
        """The output version this state goes with (``version``, ``previous``)."""
        return self.manifest.get("output") or {}

    def has_model(self) -> bool:
        return bool(self.manifest.get("model")) and "features" in self.manifest

    def load_model(self):
        # refuses a model fitted by another engine version: its features may differ
        try:
            saved = load_model(self.root / self.manifest["model"], version=__version__)
        except ModelMismatch as exc:
            raise StateError(f"{exc}; {REBUILD}") from None
        return saved.model, saved.features

    def history(self) -> pl.DataFrame | None:
        files = [self.root / f for f in self.manifest.get("history", [])]
        if not files:
            return None
        return pl.concat([pl.read_parquet(f, glob=False) for f in files], how="diagonal_relaxed")

    def first_reviews(self) -> pl.DataFrame | None:
        """The first review of every order seen (:func:`detector.input.plan.first_reviews`)."""
        name = self.manifest.get("first_reviews")
        return None if not name else pl.read_parquet(self.root / name, glob=False)

    def add_file(self, name: str) -> None:
        self.manifest.setdefault("files", {})[name] = _file_record(self.root / name)

    def commit(self) -> None:
        """Write ``state.json`` (sealed with its checksum), then remove files it no longer names."""
        self.manifest["checksum"] = _checksum(self.manifest)
        write_json(self.manifest, self.root / STATE_FILE)
        named = set(self.manifest.get("files", {}))
        for path in [*self.root.glob("model*.joblib"), *self.root.glob(f"{HISTORY_DIR}/*.parquet")]:
            if str(path.relative_to(self.root)) not in named:
                path.unlink(missing_ok=True)


def _identity(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def classify(files: list[Path], state: State) -> tuple[list[Path], list[Path], dict[str, dict]]:
    """Split ``files`` into new and unchanged; a changed seen file raises :class:`InputError`.

    Returns ``(new, unchanged, refreshed)`` where ``refreshed`` maps seen files
    whose mtime moved but whose bytes did not to their new identity.
    """
    new, same, refreshed = [], [], {}
    for f in files:
        key = str(f.resolve())
        seen = state.partitions.get(key)
        if seen is None:
            new.append(f)
            continue
        ident = _identity(f)
        if ident["size"] == seen["size"] and ident["mtime_ns"] == seen["mtime_ns"]:
            same.append(f)
            continue
        if ident["size"] == seen["size"] and file_sha256(f) == seen["sha256"]:
            refreshed[key] = {**seen, **ident}
            same.append(f)
            continue
        raise StateError(
            f"partition {f} changed since run {seen.get('run')} scanned it; an incremental scan "
            f"only adds partitions: --rebuild-state rescans every partition (or scan afresh "
            f"with a new --incremental directory and --out)"
        )
    return new, same, refreshed


# --------------------------------------------------------------------------- the run


def run_incremental(
    inputs,
    out: str | os.PathLike,
    state_dir: str | os.PathLike,
    config: ScanConfig | None = None,
    engine: str | Engine | None = None,
    partition_by: str = "month",
    rebuild: bool = False,
    spec=None,
):
    """Scan the partitions of ``inputs`` not seen in ``state_dir``; None when there are none.

    ``config`` (:class:`ScanConfig`) as for :func:`detector.scan.run_scan`; None is
    the configuration the earlier runs recorded in ``out`` (:func:`recorded_config`),
    else the defaults;
    ``spec`` and ``partition_by`` are keyword spellings of its fields (an
    incremental output is always partitioned, by month unless asked). Returns
    the :class:`detector.scan.ScanResult` of the new reviews. ``out`` and
    ``state_dir`` are checked for writability, and the state for damage and
    configuration changes, before any work (:class:`StateError`,
    :class:`detector.publish.OutputError`). ``rebuild=True`` discards the
    state and scans every partition into a new output.
    """
    if config is None:
        config = (None if rebuild else recorded_config(out)) or ScanConfig()
    config = config.with_options(input=spec, partition_by=partition_by)
    config = dataclasses.replace(config, out_of_core=False)
    # --out can be written, before any work
    job = _Job(Publication(out), config_fingerprint(config), config)
    root = check_writable_dir(state_dir, "--incremental")
    with _holding(root):
        return _run_locked(inputs, root, rebuild, job, engine)


def recorded_config(out: str | os.PathLike) -> ScanConfig | None:
    """The configuration of the incremental output in ``out`` (its ``summary.json``, through
    :meth:`ScanConfig.from_dict`); None when ``out`` holds none. A later run reads the
    input as the first did (preset, shop, time zone ...) without the options repeated."""
    summary = _summary(Path(out))
    inc = summary.get("incremental")
    if not isinstance(inc, dict):
        return None
    config = ScanConfig.from_dict(summary)
    if "from_run" in (inc.get("threshold") or {}):
        # the stored threshold a run scores with, not one that was asked for
        config = dataclasses.replace(config, threshold=None)
    return config


@dataclasses.dataclass
class _Job:
    """What one incremental run writes where, and how it reads and scores."""

    publication: Publication
    fingerprint: dict
    config: ScanConfig


@contextlib.contextmanager
def _holding(root: Path):
    """Hold ``root``'s state lock for the run: two runs on one state would interleave commits."""
    fd = try_lock(root / LOCK_FILE, create=True)
    if fd is None and fcntl is not None:
        raise StateError(
            f"another incremental run is using {root} (it holds {root / LOCK_FILE}); "
            "wait for it to finish"
        )
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def _run_locked(inputs, root: Path, rebuild: bool, job: _Job, engine):
    state = State.new(root) if rebuild else State.open(root, job.fingerprint)
    if not rebuild:
        _check_output(state, job.publication)
    # a later run starts from the output so far; a first run (or a rebuild) replaces it
    job.publication.carry = _carry_all if state.runs else keeps_foreign
    files = resolve_inputs(inputs)
    new, _same, refreshed = classify(files, state)
    if not new:
        if refreshed:
            state.partitions.update(refreshed)
            _write_state(state.commit, root)
        return None
    owns = not isinstance(engine, Engine)
    engine = get_engine(engine)
    try:
        return _run(state, new, refreshed, job, engine)
    finally:
        if owns:
            engine.close()


def _carry_all(name: str) -> bool:
    return True


def _check_output(state: State, publication: Publication) -> None:
    """Refuse an ``--out`` that does not hold this state's output; finish an interrupted switch."""
    current = publication.current
    name = current.name if current is not None and current != publication.point else None
    if state.runs == 0:
        summary = _summary(current)
        inc = summary.get("incremental") if isinstance(summary, dict) else None
        if inc:
            raise StateError(
                f"--out {publication.out} holds the output of incremental run {inc.get('run')} "
                f"(state {inc.get('state_dir')}), but {state.root / STATE_FILE} is missing: "
                f"scanning now would add every partition to it again as duplicates; {REBUILD}"
            )
        return
    want, previous = state.output.get("version"), state.output.get("previous")
    if name == want:
        return
    pending = publication.versions / want if want else None
    if pending is not None and pending.is_dir() and name == previous:
        publication.switch(pending)  # the last run committed its state but was stopped here
        return
    raise StateError(
        f"--out {publication.out} holds {f'version {name}' if name else 'no output of this state'}, "
        f"not the output of run {state.runs} of {state.root} (version {want}): the state and its "
        f"output go together. Pass the --out this state writes to, or {REBUILD}"
    )


def _summary(directory: Path | None) -> dict:
    try:
        return json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return {}


def _prior(state: State, config: ScanConfig, new) -> tuple[Prior, ScanConfig, dict | None]:
    """The history and stored model to scan with, the configuration with the stored
    threshold (unless one is asked for), and where that threshold came from."""
    prior = Prior(state.history())
    # the new partitions' orders decided together with the history's (and kept for later runs)
    prior.first = first_reviews(new, config.input, state.first_reviews(), every_order=True)
    if not state.has_model():
        return prior, config, None
    model, features = state.load_model()
    prior.given = GivenModel(model, features)
    if config.threshold is not None or "threshold" not in state.manifest:
        return prior, config, None
    m = state.manifest
    config = dataclasses.replace(config, threshold=m["threshold"])
    note = {
        "value": m["threshold"],
        "from_run": m.get("threshold_run", 1),
        "method": m.get("threshold_method"),
    }
    return prior, config, note


def _run(state: State, new, refreshed, job: _Job, engine):
    publication, run = job.publication, state.runs + 1
    prior, config, threshold_note = _prior(state, job.config, new)
    current = publication.current
    # a first run's rejects are the output's own, a later run's go under runs/<run>/
    out = publication.out / RUNS_DIR / f"{run:05d}" if state.runs else publication.out
    with publication:
        publication.carry_in()
        incoming = publication.path / ".incoming"
        t0 = time.perf_counter()
        result = stage_or_rejects(
            new, incoming, publication.run_id, out, config, engine=engine, prior=prior
        )
        if isinstance(result, NoRowsError):
            _file_rejected(state, job, incoming, run, current)
        else:
            history = prior.history
            result.summary["incremental"] = {
                "state_dir": str(state.root.resolve()),
                "run": run,
                "new_partitions": [str(p) for p in new],
                "seen_partitions": len(state.partitions),
                "history_reviews": 0 if history is None else history.height,
                "model": "reused" if prior.given is not None else "fitted",
                "threshold": threshold_note or {"value": result.threshold, "method": "this run"},
                "duplicates_of_history": prior.n_duplicates,
            }
            _file_run(incoming, publication.path, run, result.summary)
            output = _prepared_output(publication, current)
            seconds = time.perf_counter() - t0
            fitted = prior.given is None
            _write_state(
                lambda: _update_state(
                    state, result, (new, refreshed, prior.first), run, fitted, seconds, job, output
                ),
                state.root,
            )
            stop_point(11, "state committed")
    if isinstance(result, NoRowsError):
        raise result  # published like any run's output, then raised (exit 2 with the reasons)
    return result


def _prepared_output(publication: Publication, current) -> dict:
    """Prepare the new output version; what the state records of it (``version``, ``previous``)."""
    version = publication.prepare()
    stop_point(10, "output prepared")
    return {
        "version": version.name,
        "previous": None if current is None or current == publication.point else current.name,
    }


def _file_rejected(state: State, job: _Job, incoming: Path, run: int, current) -> None:
    """File the outputs of a run whose every new row was rejected (written to ``incoming``).

    The rejects and this run's summary go under ``runs/<run>/`` beside the
    earlier runs' output (a first run's are the output, as a plain scan's). The
    new partitions are not marked seen and no run is counted: fixed, they are
    new partitions to the next run. The state records the new output version
    (a first run has no state to record it in).
    """
    publication = job.publication
    _move_files(incoming, _run_dir(publication.path, run) if state.runs else publication.path)
    if state.runs:
        state.manifest["output"] = _prepared_output(publication, current)
        _write_state(state.commit, state.root)


def _write_state(write, root: Path) -> None:
    """Run ``write`` (which writes into the state directory ``root``); a disk that refuses is exit 2."""
    try:
        write()
    except Exception as exc:
        err = write_errno(exc, root)
        if err is None:
            raise
        raise OutputError(
            f"cannot write the state in --incremental {root}: {os.strerror(err)}; the state and "
            "--out are as they were: free space or fix the directory, then run again"
        ) from exc


def _file_run(scan_dir: Path, version: Path, run: int, summary: dict) -> None:
    """Add a staged scan to the new output ``version``: parts per month, the rest under runs/."""
    tag = f"{run:05d}"
    for name in PARTITIONED_OUTPUTS:
        for f in sorted((scan_dir / name).rglob("*.parquet")):
            dst = version / name / f.parent.relative_to(scan_dir / name) / f"part-{tag}.parquet"
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(f, dst)
    write_json(summary, scan_dir / "summary.json")
    _move_files(scan_dir, _run_dir(version, run))
    # a new file, never the carried (hard-linked) summary rewritten in place
    write_json(summary, version / "summary.json")


def _run_dir(version: Path, run: int) -> Path:
    """``runs/<run>/`` of the new output ``version``, empty (an earlier attempt's removed)."""
    run_dir = version / RUNS_DIR / f"{run:05d}"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # names only: the files of earlier versions stay as they are
    run_dir.mkdir(parents=True)
    return run_dir


def _move_files(scan_dir: Path, target: Path) -> None:
    """Move the files of ``scan_dir`` into ``target``, then remove ``scan_dir``."""
    for f in scan_dir.iterdir():
        if f.is_file():
            os.replace(f, target / f.name)
    shutil.rmtree(scan_dir)


def _write_part(state: State, name: str, frame: pl.DataFrame) -> None:
    """Write ``frame`` to the state file ``name`` (atomically) and record its checksum."""
    (state.root / HISTORY_DIR).mkdir(parents=True, exist_ok=True)
    with atomic_path(state.root / name) as tmp:
        frame.write_parquet(tmp, compression="zstd")
    state.add_file(name)


def _save_model(state: State, result, run: int) -> None:
    """Store the model the first run fitted, its features and threshold, in the state."""
    m, names = state.manifest, list(result.features.scored)
    m["model"] = f"model-{m['build']}.joblib"
    parameters = result.summary.get("parameters", {})
    save_model(state.root / m["model"], result.model, names, parameters, version=__version__)
    state.add_file(m["model"])
    m["features"], m["threshold"], m["threshold_run"] = names, result.threshold, run
    m["threshold_method"] = result.summary.get("threshold", {}).get("method")


def _update_state(state: State, result, seen, run, fitted, seconds, job: _Job, output):
    """Write the history part (and the model on the first run); commit ``state.json`` last.

    ``seen`` is ``(new, refreshed, first)``: the new partitions, the seen ones whose
    mtime moved, and the first reviews of every order so far."""
    m, (new, refreshed, first) = state.manifest, seen
    hist_name = f"{HISTORY_DIR}/{m['build']}-{run:05d}.parquet"
    _write_part(state, hist_name, compact_history(result.loaded.reviews))
    if first is not None and first.height:
        m.get("files", {}).pop(m.get("first_reviews"), None)  # replaced: it held fewer orders
        m["first_reviews"] = f"{HISTORY_DIR}/first-{m['build']}-{run:05d}.parquet"
        _write_part(state, m["first_reviews"], first)
    if fitted:
        _save_model(state, result, run)
    state.partitions.update(refreshed)
    hashed = {str(Path(i["path"]).resolve()): i.get("sha256") for i in result.summary["inputs"]}
    for f in new:
        key = str(f.resolve())
        state.partitions[key] = {
            **_identity(f),
            "sha256": hashed.get(key) or file_sha256(f),
            "run": run,
        }
    m["history"] = [*[h for h in m.get("history", []) if h != hist_name], hist_name]
    m["runs"] = run
    m["config"] = job.fingerprint
    m["output"] = output
    m["engine_version"] = __version__
    m["history_columns"] = history_columns()
    m.setdefault("log", []).append(
        {
            "run": run,
            "new_partitions": len(new),
            "reviews": result.scores.height,
            "seconds": round(seconds, 3),
        }
    )
    state.commit()
