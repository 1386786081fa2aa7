"""All-or-nothing publishing of an output directory, and checking it can be written first.

A scan's ``--out`` (and an evidence packet's ``--out``) is a symbolic link to
one complete version of the output::

    out -> .out.versions/20260103T120000-4242-9f3a1c
    .out.versions/20260103T120000-4242-9f3a1c/summary.json, scores.parquet, ...

A new version is written in full into a staging directory beside the others,
renamed into ``.out.versions/`` and then made current by replacing the link
with one ``rename(2)``: a reader of ``out`` sees the previous version or the
new one, never a mix, and a run killed at any instant (``kill -9`` included)
leaves one of the two. A reader that resolves ``out`` once (``realpath``, as
``evidence`` does) keeps a consistent version even while a new one is
published: the previous version is kept until the next publish.

- An existing plain directory ``out`` (written by earlier versions of this
  tool) is swapped for the link in one ``renameat2(RENAME_EXCHANGE)`` on
  Linux; elsewhere it is renamed aside first (``out`` is then missing for an
  instant, never mixed). It becomes the previous version.
- ``out`` given as a link of the user's own (not one into ``.NAME.versions``)
  is followed, never replaced: the directory it leads to is published.
- Entries the tool does not write (a notes file, a folder of the user's) are
  carried into each new version as hard links.
- Old versions are removed after each switch, under a lock; staging
  directories of killed runs are removed by the next run (their lock is free).

``Publication`` also checks, before any work, that the output can be
written: ``--out`` naming a file, a read-only file system, a missing
permission or a full disk is an :class:`OutputError` (exit 2) naming the path
and what to do, and nothing is published.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from detector.atomic import remove_stale_staging, staging_dir
from detector.errors import InputError
from detector.interrupts import deferred_interrupt

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: Test hook: the publish step (a number) at which the process stops itself
#: (SIGSTOP), announcing ``publish step N NAME`` on stderr, so a test can kill it there.
STOP_AT_ENV = "REVIEW_DETECTOR_PUBLISH_STOP"
PUBLISH_LOCK = ".publish.lock"
#: Bytes a write probe reserves: a write that failed with less free space than this
#: is reported as a full disk.
PROBE_BYTES = 1 << 20
_WRITE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


class OutputError(InputError):
    """An output location that cannot be written (exit 2); the message names it and what to do."""


def versions_dir(point: Path) -> Path:
    """Where the versions of the output ``point`` live: ``.NAME.versions`` beside it."""
    return point.with_name(f".{point.name}.versions")


def _is_ours(link: Path) -> bool:
    """Whether ``link`` is a link this module made (to ``.NAME.versions/<id>``)."""
    target = Path(os.readlink(link))
    return (
        not target.is_absolute()
        and len(target.parts) == 2
        and target.parts[0] == versions_dir(link).name
    )


def publish_point(out: str | os.PathLike[str]) -> Path:
    """The path a publish replaces: ``out`` with the user's own symbolic links followed."""
    point = Path(os.path.abspath(out))
    for _ in range(40):
        if not point.is_symlink() or _is_ours(point):
            return point
        parent = os.path.realpath(point.parent)
        point = Path(os.path.normpath(os.path.join(parent, os.readlink(point))))
    raise OutputError(f"--out {out}: too many levels of symbolic links")


def current_version(point: Path) -> Path | None:
    """The version directory ``point`` links to now (None: no link of ours there)."""
    if point.is_symlink() and _is_ours(point):
        return versions_dir(point) / Path(os.readlink(point)).name
    return None


def new_run_id() -> str:
    """A fresh, sortable id for one published version."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{stamp}-{os.getpid()}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------- checks


def write_errno(exc: BaseException, probe_dir: Path) -> int | None:
    """The errno that stops writes when ``exc`` was raised writing into ``probe_dir``; None if none.

    An ``OSError`` says it by its errno. Polars reports a failed write as a
    ``ComputeError`` without one, so the file system is then asked directly:
    reserving :data:`PROBE_BYTES` in ``probe_dir`` fails with the real errno
    when the disk is full, read-only or forbidden. Never decided by message text.
    """
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
        return exc.errno
    try:
        probe_write(probe_dir, PROBE_BYTES)
    except OSError as probe:
        return probe.errno if probe.errno in _WRITE_ERRNOS else None
    return None


def probe_write(directory: Path, reserve: int = 1) -> None:
    """Create, fill (``reserve`` bytes, allocated on disk) and remove a file in ``directory``."""
    fd, name = tempfile.mkstemp(prefix=".probe-", dir=directory)
    try:
        try:
            os.posix_fallocate(fd, 0, reserve)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
            os.write(fd, b"\0" * reserve)  # no fallocate here: write the bytes
            os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(name)


def check_writable_dir(path: str | os.PathLike[str], what: str) -> Path:
    """Create directory ``path`` if needed and prove a file can be written in it.

    Raises :class:`OutputError` naming ``what`` (``--out``, ``--incremental``)
    when it is a file, or the file system refuses (read-only, permission, full).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(
            f"{what} {path} is a file, not a directory: give a directory path "
            "(it is created when missing)"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe_write(path)
    except OSError as exc:
        raise _output_error(what, path, exc.errno, exc.filename or path) from None
    return path


def _output_error(what: str, path: Path, err: int | None, where=None) -> OutputError:
    why = _WRITE_ERRNOS.get(err or 0, os.strerror(err or 0))
    fix = {
        errno.ENOSPC: "free space there or choose another location",
        errno.EDQUOT: "free space there or choose another location",
        errno.EROFS: "choose a location on a writable file system",
    }.get(err or 0, "choose a location this user can write, or fix its permissions")
    at = f" ({where})" if where and str(where) != str(path) else ""
    return OutputError(f"cannot write {what} {path}{at}: {why}; {fix}")


# --------------------------------------------------------------------------- publishing


def carry_none(name: str) -> bool:
    return False


class Publication:
    """One new version of the output ``out``, staged, then switched in at once.

    Construction checks the output can be written (before any work). Within
    ``with publication:`` write everything into :attr:`path`; a clean exit
    publishes it (:meth:`prepare` then :meth:`switch`, which callers with a
    commit of their own between the two may call themselves); an exception
    publishes nothing and removes the staging. Write failures (disk full,
    read-only) become :class:`OutputError`.

    Parameters
    ----------
    out : path
        The output directory (a link of this module, a plain directory, a
        user's link to follow, or nothing yet).
    carry : callable
        Which entries of the current version the new one starts with (hard
        links, so nothing is copied): ``carry(name) -> bool``.
    what : str
        How the output is named in messages (``--out``).
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        carry: Callable[[str], bool] = carry_none,
        what: str = "--out",
    ):
        self.out = Path(out)
        self.what = what
        self.carry = carry
        self.point = publish_point(out)
        self.versions = versions_dir(self.point)
        self.run_id = new_run_id()
        self.path: Path | None = None
        self.version: Path | None = None
        self._stack: contextlib.ExitStack | None = None
        self._carried = False
        self._lock_depth = 0
        self._check()

    # -- before any work -------------------------------------------------------
    def _check(self) -> None:
        point = self.point
        if point.exists() and not point.is_dir():
            raise OutputError(
                f"{self.what} {self.out} is a file, not a directory: give a directory path "
                "(it is created when missing)"
            )
        if point.is_dir() and not point.is_symlink() and os.path.ismount(point):
            raise OutputError(
                f"{self.what} {self.out} is a mount point: a new output replaces the directory "
                f"as a whole, which a mount point cannot be; give a directory inside it, "
                f"e.g. {point / 'scan'}"
            )
        existed = self.versions.exists()
        check_writable_dir(self.versions, self.what)
        if not existed:
            self.versions.rmdir()  # made again when the run starts writing; none if it never does
        else:
            remove_stale_staging(self.versions)  # of runs killed here before (their lock is free)
        # the switch renames an entry in the parent (the versions directory may predate a
        # change of the parent's permissions or mount)
        parent = point.parent
        if os.statvfs(parent).f_flag & os.ST_RDONLY:
            raise _output_error(self.what, parent, errno.EROFS)
        if not os.access(parent, os.W_OK | os.X_OK):
            raise _output_error(self.what, parent, errno.EACCES)

    @property
    def current(self) -> Path | None:
        """The output's current directory: a version, a plain directory, or None."""
        version = current_version(self.point)
        if version is not None:
            return version if version.is_dir() else None
        if self.point.is_dir() and not self.point.is_symlink():
            return self.point
        return None

    # -- the block -------------------------------------------------------------
    def __enter__(self) -> Publication:
        self._stack = contextlib.ExitStack()
        try:
            staging = self._stack.enter_context(staging_dir(self.versions))
            self.path = staging / self.run_id
            self.path.mkdir()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc is None:
                try:
                    with self._locked():  # no other run's collection between the two
                        self.prepare()
                        self.switch()
                except Exception as failed:
                    self._raise_write_error(failed)
                    raise
            elif isinstance(exc, Exception) and not isinstance(exc, InputError):
                self._raise_write_error(exc)
        finally:
            self._stack.close()
            if self.version is None and self.current is None:
                with contextlib.suppress(OSError):
                    self.versions.rmdir()  # a first run that failed leaves nothing at all

    def _raise_write_error(self, exc: BaseException) -> None:
        """Raise :class:`OutputError` when ``exc`` comes from a disk that refuses writes."""
        probe_dir = self.path if self.path is not None and self.path.exists() else self.versions
        err = write_errno(exc, probe_dir)
        if err is not None:
            base = _output_error(self.what, self.out, err)
            raise OutputError(
                f"{base}; nothing was published, {self.what} holds what it held before"
            ) from exc

    def carry_in(self) -> None:
        """Start the new version with the entries ``carry`` keeps from the current one.

        Hard links: nothing is copied, and the current version is left as it is
        (every later write replaces a name, never a linked file's bytes). Runs at
        :meth:`prepare` unless called before; entries already staged are kept.
        """
        if self._carried:
            return
        self._carried = True
        current, path = self.current, self.path
        if current is None:
            return
        for entry in sorted(current.iterdir()):
            if entry.name.startswith(".") or not self.carry(entry.name):
                continue
            if (path / entry.name).exists() or (path / entry.name).is_symlink():
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, path / entry.name, symlinks=True, copy_function=_link)
            elif entry.is_symlink():
                os.symlink(os.readlink(entry), path / entry.name)
            else:
                _link(entry, path / entry.name)

    # -- the switch --------------------------------------------------------------
    def prepare(self) -> Path:
        """Move the staged version beside the others (not yet current); returns it."""
        if self.version is None:
            self.carry_in()
            stop_point(0, "staged")
            with deferred_interrupt(), self._locked():
                self.version = self.versions / self.run_id
                os.replace(self.path, self.version)
            stop_point(1, "prepared")
        return self.version

    def switch(self, version: Path | None = None) -> None:
        """Make ``version`` (this publication's by default) current; remove older versions."""
        version = version or self.prepare()
        with deferred_interrupt(), self._locked():
            if not version.is_dir():
                raise OutputError(f"the version {version} to publish is gone; run the scan again")
            previous = self.current
            if previous is not None and previous.resolve() == version.resolve():
                return
            link = self.versions / f".link-{version.name}"
            link.unlink(missing_ok=True)
            os.symlink(os.path.join(self.versions.name, version.name), link)
            stop_point(2, "linked")
            if previous is not None and previous == self.point:
                previous = self._swap_plain_dir(link, version)
            else:
                os.replace(link, self.point)
            stop_point(3, "switched")
            keep = {version.name} | ({previous.name} if previous is not None else set())
            collect_versions(self.versions, keep)
            stop_point(4, "collected")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the versions directory's publish lock (re-entrant within this publication)."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        with _lock(self.versions):
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0

    def _swap_plain_dir(self, link: Path, version: Path) -> Path:
        """Replace the plain directory ``point`` by ``link``; returns where the old one went."""
        aside = self.versions / f"plain-{version.name}"
        if _exchange(link, self.point):
            os.replace(link, aside)  # ``link`` now names the old directory
        else:
            os.replace(self.point, aside)
            os.replace(link, self.point)
        return aside


def collect_versions(versions: Path, keep: set[str]) -> list[str]:
    """Remove every entry of ``versions`` but ``keep``, staging directories and the lock."""
    removed = []
    for entry in sorted(versions.iterdir()):
        if entry.name in keep or entry.name == PUBLISH_LOCK or entry.name.startswith(".staging-"):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def _link(src, dst) -> None:
    """Hard-link ``src`` at ``dst`` (a copy where the file system has no hard links)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


@contextlib.contextmanager
def _lock(versions: Path) -> Iterator[None]:
    """Hold the versions directory's publish lock (one switch at a time)."""
    if fcntl is None:
        yield
        return
    fd = os.open(versions / PUBLISH_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap ``a`` and ``b`` in one step (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # the file system cannot exchange: rename aside instead
    raise OSError(err, os.strerror(err), str(b))


def stop_point(number: int, name: str) -> None:
    """The publish test hook (:data:`STOP_AT_ENV`): stop here when asked to."""
    at = os.environ.get(STOP_AT_ENV)
    if at is not None and at == str(number):
        sys.stderr.write(f"publish step {number} {name}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGSTOP)
