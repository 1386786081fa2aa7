"""The isolation-forest scorer over one-sided features.

A plain forest on raw behavioural features scores *below random* on real
review data: prolific genuine reviewers are the easiest points to isolate.
Here every feature is first oriented (higher = more suspicious), turned into
its percentile, and clipped at ``clip_quantile`` so that the whole ordinary
half of a feature collapses onto one value. Only the suspicious tail is left
for the trees to isolate.

By default (``combine="sum"``) a review's score is the sum of those one-sided
percentiles, not the forest's path length: trees split on randomly chosen
features, so a review that is suspicious on the few features that matter
scores like one mildly unusual everywhere (the forest dilutes strong
signals). The fitted forest stays available (``combine="forest"``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.utils.validation import check_is_fitted

from models.content import splitmix64

_GRID = 2001
#: Transforms of at least this many rows run a column per thread.
_THREADED_ROWS = 100_000


def _row_hash(Z: np.ndarray) -> np.ndarray:
    """64-bit hash of each row's bit pattern (multiply-xorshift, column by column).

    Equal rows get equal hashes; unequal rows that collide are caught by the
    caller's check. Computed in place of a copy of ``Z`` (as a Polars frame
    would need).
    """
    bits = Z.view(np.uint64 if Z.dtype.itemsize == 8 else np.uint32)
    h = np.full(Z.shape[0], 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(Z.shape[1]):
            h ^= bits[:, j].astype(np.uint64)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
    return h


class OneSidedIsolationForest(BaseEstimator):
    """IsolationForest on percentile-transformed, one-sided features.

    Parameters
    ----------
    directions : sequence of int, optional
        ``+1`` / ``-1`` per feature column; ``-1`` flips a feature so that low
        values are suspicious. All ``+1`` when omitted.
    clip_quantile : float
        Percentile below which a feature carries no suspicion (0.7 means only
        the top 30 % can contribute).
    tail_quantile : float or None
        Above this quantile the excess keeps its magnitude (log-scaled) so
        that extreme values stay more suspicious than merely high ones;
        ``None`` keeps pure ranks. It is the reference a single signal is
        measured against, so a campaign must not set it: at 0.99 one of 3 %
        of the reviews did (a 30-account template sat inside its own tail).
    n_estimators, max_samples : int
        Forest size and sub-sample per tree (small samples isolate better).
    max_fit_rows : int
        Rows sampled to fit the percentile grid and the forest.
    chunk_size : int
        Rows per scoring chunk; chunks are scored on ``n_jobs`` threads
        because ``IsolationForest.score_samples`` uses one core.
    n_jobs : int
        Threads for scoring.
    random_state : int
        Seed for the sample and the forest; with content keys (see :meth:`fit`)
        the sample and the trees' draws depend on it and the reviews only.
    max_occlusions : int
        Explanations occlude at most this many of a row's strongest features.
    tail_spreads : float or None
        The single-signal term (:meth:`tail_score`): a feature this many of its
        upper spreads beyond its ``tail_quantile`` value scores as the most
        anomalous fitted review, whatever the other features say; ``None``
        leaves the forest alone.
    tail_features : sequence of bool, optional
        Which columns the single-signal term may use (all when omitted): a
        feature that honest crowds also push to extremes (a flash sale's new
        buyers) should only add to the combined score, never flag alone.
    combine : {"sum", "forest", "blend"}
        What scores a review beside the single-signal term. ``"sum"``: the sum
        of its one-sided percentiles (:meth:`transform` capped at 1: the excess
        beyond the tail is the single-signal term's), 1 at the most suspicious
        review of the calibration sample. Every feature counts by its own rank,
        as SpEagle combines its behavioural priors; nothing is averaged away by
        trees that split on other features (YelpChi: the forest alone ROC-AUC
        0.598, the sum 0.679, the strongest single feature 0.746).
        ``"forest"``: the forest's calibrated score (see :meth:`calibrate`).
        ``"blend"``: the mean of the two (both in [0, 1], 0 when ordinary and 1
        at the fitting sample's top), explained by the mean of their
        explanations: the forest ranks the evasions that spread thin over many
        features, the sum keeps the precision of few strong ones.

    Attributes
    ----------
    grid_ : ndarray of shape (n_grid, n_features)
        Quantile grid of each oriented feature, for the percentile transform.
    forest_ : IsolationForest
    baseline_ : float
        Raw anomaly score of a review with nothing suspicious (all zeros after
        clipping); explanations are contributions above it.
    train_scores_ : ndarray
        Sorted raw scores of the fitting sample, for calibration.
    sum_top_ : float
        Largest summed suspicion in the fitting sample: the ``"sum"`` score's 1.
    """

    #: Models saved before ``tail_features`` existed let every column signal alone, as fitted.
    tail_features = None

    def __init__(
        self,
        directions=None,
        clip_quantile: float = 0.7,
        tail_quantile: float | None = 0.95,
        n_estimators: int = 100,
        max_samples: int = 256,
        max_fit_rows: int = 200_000,
        chunk_size: int = 25_000,
        n_jobs: int = 2,
        random_state: int = 0,
        max_occlusions: int = 6,
        tail_spreads: float | None = 10.0,
        combine: str = "sum",
        tail_features=None,
    ):
        self.directions = directions
        self.clip_quantile = clip_quantile
        self.tail_quantile = tail_quantile
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.max_fit_rows = max_fit_rows
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.max_occlusions = max_occlusions
        self.tail_spreads = tail_spreads
        self.combine = combine
        self.tail_features = tail_features

    # -- transform -----------------------------------------------------------
    def _oriented(self, X) -> np.ndarray:
        X, d = self._checked(X)
        return np.nan_to_num(X * d, nan=0.0, copy=False)

    def _checked(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``X`` as float64 and the direction of each column."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError("X must be 2-dimensional")
        d = (
            np.ones(X.shape[1])
            if self.directions is None
            else np.asarray(self.directions, dtype=np.float64)
        )
        if d.shape[0] != X.shape[1]:
            raise ValueError(f"{X.shape[1]} feature columns but {d.shape[0]} directions")
        return X, d

    def transform(self, X, dtype=np.float64) -> np.ndarray:
        """One-sided suspicion per feature: 0 = ordinary, 1 = top of the ranks, more beyond the tail.

        ``dtype=np.float32`` gives what the trees see (scikit-learn's forest
        casts its input to float32) in half the memory.
        """
        check_is_fitted(self, "grid_")
        X, d = self._checked(X)
        n = self.grid_.shape[0]
        q = self.clip_quantile
        grid = np.ascontiguousarray(self.grid_.T)
        if self.tail_quantile is not None:
            # Ranks saturate at the top: 30 shops of 1-star reviews and 2
            # shops rank alike. Beyond the tail quantile the excess is added
            # on a log scale, in units of the feature's own upper spread.
            k = int(round(self.tail_quantile * (n - 1)))
            kq = int(round(q * (n - 1)))
            top, mid = self.grid_[k], self.grid_[kq]
            spread = np.where(top - mid > 0, top - mid, np.maximum(np.abs(top), 1.0))

        def value(j: int, o: np.ndarray) -> np.ndarray:
            g = grid[j]
            # mid-rank percentile: ties (a feature's mass at 0) share one value
            pct = (np.searchsorted(g, o, "left") + np.searchsorted(g, o, "right")) / (2.0 * n)
            z = np.clip((pct - q) / (1.0 - q), 0.0, 1.0)
            if self.tail_quantile is not None:
                z += np.log1p(np.maximum(o - top[j], 0.0) / spread[j])
            return z

        # Below the grid value at floor(q * n) the mid-rank percentile is at
        # most q (and below the tail), so the value is exactly 0: only the
        # upper side, and the value at the cut once, need the binary search.
        m = min(int(np.floor(q * n)), n - 1)
        Z = np.zeros(X.shape, dtype=dtype, order="F")

        def column(j: int) -> None:
            # one column at a time: no oriented copy of the whole matrix
            o, cut = np.nan_to_num(X[:, j] * d[j], nan=0.0, copy=False), grid[j][m]
            if self.tail_quantile is not None and top[j] < cut:
                Z[:, j] = value(j, o)
                return
            at, above = o == cut, o > cut
            if at.any():
                Z[at, j] = value(j, np.array([cut]))[0]
            if above.any():
                Z[above, j] = value(j, o[above])

        if X.shape[0] < _THREADED_ROWS or self.n_jobs == 1:
            for j in range(X.shape[1]):
                column(j)
        else:
            # columns are independent and numpy's searches and masks release the GIL
            with ThreadPoolExecutor(max_workers=self.n_jobs) as pool:
                list(pool.map(column, range(X.shape[1])))
        return Z

    # -- fit / score ---------------------------------------------------------
    def fit(self, X, y=None, keys=None):
        """Fit the percentile grid and the forest on a sample of ``X``.

        ``keys`` are the rows' content keys (:func:`models.content.content_keys`
        of their review ids): the sample and the order the trees draw from are
        keyed on them, so the same reviews in any order fit the same model.
        Without keys the row positions stand in (the model then depends on
        row order). ``y`` is ignored; it is accepted for pipeline compatibility.
        """
        X = np.asarray(X, dtype=np.float64)
        return self._fit_sample(X[self.sample_rows(X.shape[0] if keys is None else keys)])

    def _ranks(self, keys) -> np.ndarray:
        """Each row's draw: its content key mixed with ``random_state``."""
        if np.isscalar(keys):
            keys = np.arange(int(keys), dtype=np.uint64)
        salt = splitmix64(np.array([self.random_state], dtype=np.uint64))[0]
        return splitmix64(np.asarray(keys, dtype=np.uint64) ^ salt)

    def sample_rows(self, keys) -> np.ndarray:
        """Positions of the rows :meth:`fit` fits on, in fitting order.

        The ``max_fit_rows`` rows of lowest draw (:meth:`_ranks`), ordered by
        draw: a uniform sample that depends only on the rows' keys and the
        seed. ``keys`` may be a number of rows (positions as keys).
        """
        r = self._ranks(keys)
        m = self.max_fit_rows
        if r.size > m:
            idx = np.argpartition(r, m - 1)[:m]
            return idx[np.argsort(r[idx], kind="stable")]
        return np.argsort(r, kind="stable")

    def fit_sample(self, X_sample, keys_sample):
        """Fit as :meth:`fit` would, given only the rows :meth:`sample_rows` chose, in any order.

        For inputs too large to hold: ``fit_sample(X[rows], keys[rows])`` with
        ``rows = sample_rows(keys)`` is ``fit(X, keys=keys)``, value for value.
        """
        X_sample = np.asarray(X_sample, dtype=np.float64)
        r = self._ranks(keys_sample)
        if X_sample.shape[0] != r.size or r.size > self.max_fit_rows:
            raise ValueError(
                f"fit_sample needs the rows of sample_rows (at most {self.max_fit_rows:,}) "
                f"and one key per row, got {X_sample.shape[0]:,} rows and {r.size:,} keys"
            )
        return self._fit_sample(X_sample[np.argsort(r, kind="stable")])

    def _fit_sample(self, X: np.ndarray):
        """Fit on ``X``, rows in fitting order (the trees draw their sub-samples by position)."""
        oriented = self._oriented(X)
        self.n_features_in_ = X.shape[1]
        self.grid_ = np.quantile(
            oriented, np.linspace(0.0, 1.0, _GRID), axis=0, method="inverted_cdf"
        )
        Z = self.transform(X)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, Z.shape[0]),
            random_state=self.random_state,
            # Threads slow the fit of small trees down (1.7 s vs 1.1 s for 200
            # trees here); each tree's seed is drawn up front, so the forest is
            # the same either way.
            n_jobs=1,
        ).fit(Z)
        self.baseline_ = float(self._raw(np.zeros((1, Z.shape[1])))[0])
        # The calibration reference only needs the top of the distribution; the
        # first 20k rows in fitting order (a random sample) keep fitting cheap.
        ref = Z[:20_000]
        self.train_scores_ = np.sort(self._raw(ref))
        self.sum_top_ = float(np.minimum(ref, 1.0).sum(axis=1).max()) if ref.size else 0.0
        return self

    def _raw(self, Z: np.ndarray) -> np.ndarray:
        """Raw anomaly score ``2 ** (-E[h] / c(n))`` in (0, 1), higher = more anomalous."""
        if Z.shape[0] <= self.chunk_size or self.n_jobs == 1:
            return -self.forest_.score_samples(Z)
        chunks = [Z[i : i + self.chunk_size] for i in range(0, Z.shape[0], self.chunk_size)]
        with ThreadPoolExecutor(max_workers=self.n_jobs) as pool:
            parts = list(pool.map(self.forest_.score_samples, chunks))
        return -np.concatenate(parts)

    def raw_score(self, X, raw_map=None) -> np.ndarray:
        """Raw forest anomaly score of ``X`` (higher = more suspicious).

        ``raw_map``, when given, computes the raw score of a matrix of
        transformed rows (an engine's process pool or cluster); it must
        return what :meth:`raw_transformed` returns for those rows.
        """
        check_is_fitted(self, "forest_")
        return self._raw_distinct(self.transform(X, dtype=np.float32), raw_map or self._raw)

    def raw_transformed(self, Z: np.ndarray) -> np.ndarray:
        """Raw forest score of already transformed rows (the unit an engine distributes)."""
        check_is_fitted(self, "forest_")
        return self._raw(np.asarray(Z))

    def _raw_distinct(self, Z: np.ndarray, raw) -> np.ndarray:
        """``raw`` over the distinct rows of ``Z`` only.

        Clipping collapses the ordinary side of every feature, so most reviews
        share their transformed vector with others (about a third are distinct
        at 1M generated reviews): the trees walk each distinct vector once.
        Rows are grouped by a 64-bit row hash and every row is checked against
        its group's representative, so a hash collision costs time, never a
        wrong score.
        """
        if Z.shape[0] < 10_000:
            return raw(Z)
        n = Z.shape[0]
        h = _row_hash(Z)
        order = np.argsort(h, kind="stable")
        sh = h[order]
        first = np.empty(n, dtype=bool)
        first[0] = True
        first[1:] = sh[1:] != sh[:-1]
        reps = order[first]  # each group's first row in input order
        codes = np.empty(n, dtype=np.int64)
        codes[order] = np.cumsum(first) - 1
        out = raw(Z[reps])[codes]
        # checked in slices: a full-size copy of Z[reps][codes] is 1.4 GB at 10M reviews
        differs = np.zeros(n, dtype=bool)
        for start in range(0, n, 1 << 20):
            sl = slice(start, min(start + (1 << 20), n))
            differs[sl] = (Z[sl] != Z[reps[codes[sl]]]).any(axis=1)
        differs = np.flatnonzero(differs)
        if differs.size:
            out[differs] = raw(Z[differs])
        return out

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Map raw scores to [0, 1]: 0 at the baseline, 1 at the most anomalous fitted review.

        Linear between the two, so ratios between scores keep their meaning
        and the same raw score always maps to the same calibrated one.
        """
        check_is_fitted(self, "train_scores_")
        top = max(float(self.train_scores_[-1]), self.baseline_ + 1e-9)
        return np.clip((raw - self.baseline_) / (top - self.baseline_), 0.0, 1.0)

    def score_samples(self, X, raw_map=None) -> np.ndarray:
        """Calibrated suspicion in [0, 1] (higher = more suspicious); ``raw_map`` as in :meth:`raw_score`.

        The larger of the combined score (see ``combine``) and :meth:`tail_score`.
        """
        if self.combine == "forest":
            combined = self.calibrate(self.raw_score(X, raw_map))
        elif self.combine == "blend":
            combined = 0.5 * (
                self.calibrate(self.raw_score(X, raw_map)) + self.summed(self.transform(X))
            )
        else:
            combined = self.summed(self.transform(X))
        return np.maximum(combined, self.tail_score(X)[0])

    def summed(self, Z: np.ndarray) -> np.ndarray:
        """The ``"sum"`` score of transformed rows: 0 when ordinary, 1 at the calibration sample's top."""
        check_is_fitted(self, "sum_top_")
        top = max(self.sum_top_, 1e-12)
        return np.clip(np.minimum(Z, 1.0).sum(axis=1, dtype=np.float64) / top, 0.0, 1.0)

    def tail_score(self, X) -> tuple[np.ndarray, np.ndarray]:
        """The single-signal term and the feature carrying it, per row.

        An isolation forest averages path lengths over trees that split on
        randomly chosen features, so a review whose one tell is extreme (every
        review minutes after receipt, thirty accounts on one device) scores
        like a review that is mildly unusual everywhere. Here a feature's
        excess beyond its ``tail_quantile`` value, in units of its upper spread
        (as in :meth:`transform`), maps on a log scale onto [0, 1]:
        ``log1p(excess) / log1p(tail_spreads)``; the row takes its strongest
        feature. Zero for every row when ``tail_spreads`` or
        ``tail_quantile`` is None.

        Returns
        -------
        score : ndarray of shape (n_rows,)
        feature : ndarray of int, shape (n_rows,)
            Column of the strongest excess (0 where there is none).
        """
        check_is_fitted(self, "grid_")
        X, d = self._checked(X)
        best = np.zeros(X.shape[0])
        arg = np.zeros(X.shape[0], dtype=np.int64)
        if self.tail_spreads is None or self.tail_quantile is None:
            return best, arg
        n = self.grid_.shape[0]
        top = self.grid_[int(round(self.tail_quantile * (n - 1)))]
        mid = self.grid_[int(round(self.clip_quantile * (n - 1)))]
        spread = np.where(top - mid > 0, top - mid, np.maximum(np.abs(top), 1.0))
        may = (
            np.ones(X.shape[1], dtype=bool)
            if self.tail_features is None
            else np.asarray(self.tail_features, dtype=bool)
        )
        for j in np.flatnonzero(may):  # a column at a time: no oriented copy of X
            o = np.nan_to_num(X[:, j] * d[j], nan=0.0)
            excess = np.log1p(np.maximum(o - top[j], 0.0) / spread[j])
            better = excess > best
            best[better], arg[better] = excess[better], j
        return np.minimum(best / np.log1p(self.tail_spreads), 1.0), arg

    # -- explanations --------------------------------------------------------
    def contributions(self, X) -> tuple[float, np.ndarray]:
        """Per-feature contributions to each row's calibrated score.

        Each active feature's contribution is the score lost when that feature
        alone is reset to ordinary (occlusion), rescaled so that the
        contributions add up exactly to the forest's score; where the
        single-signal term (:meth:`tail_score`) is higher, its feature also
        carries the difference, so the contributions add up exactly to
        ``score - baseline``; the baseline of the calibrated score is 0.
        With ``combine="sum"`` each feature's share of the sum is its
        contribution; with ``"blend"`` the mean of the two explanations.

        Returns
        -------
        baseline : float
            Calibrated score of an ordinary review (0.0).
        contrib : ndarray of shape (n_rows, n_features)
        """
        Z = self.transform(X)
        tail, tail_feature = self.tail_score(X)
        if self.combine == "forest":
            score, contrib = self._forest_contributions(Z)
        elif self.combine == "blend":
            forest, forest_contrib = self._forest_contributions(Z)
            summed, summed_contrib = self._summed_contributions(Z)
            score = 0.5 * (forest + summed)
            contrib = 0.5 * (forest_contrib + summed_contrib)
        else:
            score, contrib = self._summed_contributions(Z)
        # where the single-signal term is the score, its feature carries the difference
        rows = np.flatnonzero(tail > score)
        contrib[rows, tail_feature[rows]] += tail[rows] - score[rows]
        return 0.0, contrib

    def _forest_contributions(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The forest's calibrated score of transformed rows and its occlusion contributions (adding up to it)."""
        full = self.calibrate(self._raw(Z))
        contrib = np.zeros_like(Z)
        # Occlude only each row's strongest features: beyond the top few the
        # contributions are negligible and the cost grows with every feature.
        k = min(self.max_occlusions, Z.shape[1])
        if Z.size:
            top = np.argsort(-Z, axis=1)[:, :k]
            rows = np.repeat(np.arange(Z.shape[0]), k)
            cols = top.ravel()
            keep = Z[rows, cols] > 0
            rows, cols = rows[keep], cols[keep]
            if rows.size:
                occluded = Z[rows].copy()
                occluded[np.arange(rows.size), cols] = 0.0
                lost = full[rows] - self.calibrate(self._raw(occluded))
                contrib[rows, cols] = np.maximum(lost, 0.0)
        total = contrib.sum(axis=1)
        scale = np.divide(full, total, out=np.zeros_like(full), where=total > 0)
        contrib *= scale[:, None]
        # rows whose every occlusion left the score unchanged: share it over active features
        flat = (total <= 0) & (full > 0)
        if flat.any():
            act = (Z[flat] > 0).astype(np.float64)
            contrib[flat] = act / np.maximum(act.sum(axis=1, keepdims=True), 1.0) * full[flat, None]
        return full, contrib

    def _summed_contributions(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ``"sum"`` score of transformed rows and each feature's exact share of it."""
        capped = np.minimum(Z, 1.0)
        total = capped.sum(axis=1)
        score = self.summed(Z)
        scale = np.divide(score, total, out=np.zeros_like(score), where=total > 0)
        return score, capped * scale[:, None]
