"""Near-duplicate text clusters: MinHash-LSH candidates verified by rapidfuzz.

Never compares all pairs. Unique normalised texts get MinHash signatures over
character 3-grams (vectorised numpy, fixed seeds so buckets are reproducible
across versions — Polars hashes are not), banded LSH proposes candidate
pairs, ``rapidfuzz.process.cpdist`` verifies them, and connected components
of verified pairs are the clusters.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz, process
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

N_PERM = 64
BANDS = 16
ROWS = N_PERM // BANDS
MIN_RATIO = 80.0
#: Buckets larger than this are linked as a chain rather than a star, which
#: keeps candidate pairs linear in the bucket size.
_CHUNK = 4096
_MASK61 = np.uint64((1 << 61) - 1)


def _perm_params(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 61, size=N_PERM, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 1 << 61, size=N_PERM, dtype=np.uint64)
    return a, b


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads shingle codes over 64 bits."""
    x = x.copy()
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def signatures(texts: list[str], seed: int = 7) -> np.ndarray:
    """MinHash signatures, shape ``(len(texts), N_PERM)``, dtype uint64.

    Texts shorter than three characters use their whole text as one shingle.
    """
    a, b = _perm_params(seed)
    out = np.empty((len(texts), N_PERM), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, len(texts), _CHUNK):
            chunk = texts[start : start + _CHUNK]
            lens = np.fromiter((len(s) for s in chunk), dtype=np.int64, count=len(chunk))
            cps = np.frombuffer("".join(chunk).encode("utf-32-le"), dtype=np.uint32).astype(
                np.uint64
            )
            ends = np.cumsum(lens)
            starts = ends - lens
            n_sh = np.maximum(lens - 2, 1)
            # shingle i of text j starts at starts[j] + i
            first = np.repeat(starts, n_sh)
            offs = np.arange(n_sh.sum()) - np.repeat(np.cumsum(n_sh) - n_sh, n_sh)
            pos = first + offs
            short = np.repeat(lens < 3, n_sh)
            c0 = (
                cps[np.minimum(pos, cps.size - 1)]
                if cps.size
                else np.zeros_like(pos, dtype=np.uint64)
            )
            c1 = (
                np.where(short, 0, cps[np.minimum(pos + 1, max(cps.size - 1, 0))])
                if cps.size
                else c0
            )
            c2 = (
                np.where(short, 0, cps[np.minimum(pos + 2, max(cps.size - 1, 0))])
                if cps.size
                else c0
            )
            code = _mix((c0 << np.uint64(42)) ^ (c1 << np.uint64(21)) ^ c2)
            bounds = np.cumsum(n_sh) - n_sh
            for k in range(N_PERM):
                hk = (a[k] * code + b[k]) & _MASK61
                out[start : start + len(chunk), k] = np.minimum.reduceat(hk, bounds)
    return out


def candidate_pairs(sig: np.ndarray) -> np.ndarray:
    """Pairs of row indices sharing at least one LSH band, shape ``(m, 2)``."""
    n = sig.shape[0]
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = []
    with np.errstate(over="ignore"):
        for band in range(BANDS):
            cols = sig[:, band * ROWS : (band + 1) * ROWS]
            key = _mix(cols[:, 0])
            for r in range(1, ROWS):
                key = _mix(key ^ cols[:, r])
            order = np.argsort(key, kind="stable")
            sk = key[order]
            same = sk[1:] == sk[:-1]
            # chain consecutive members of each bucket: linear in bucket size
            left = order[:-1][same]
            right = order[1:][same]
            pairs.append(np.stack([left, right], axis=1))
    allp = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    allp = np.sort(allp, axis=1)
    return np.unique(allp, axis=0) if allp.size else allp


def cluster_texts(texts: list[str], min_ratio: float = MIN_RATIO, seed: int = 7) -> np.ndarray:
    """Cluster id per text (dense, int64); near-duplicates share an id.

    Parameters
    ----------
    texts : list of str
        Unique normalised texts.
    min_ratio : float
        rapidfuzz ``ratio`` (0-100) a candidate pair needs to be linked.
    """
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = candidate_pairs(signatures(texts, seed=seed))
    if len(pairs):
        left = [texts[i] for i in pairs[:, 0]]
        right = [texts[j] for j in pairs[:, 1]]
        sim = process.cpdist(left, right, scorer=fuzz.ratio, workers=-1)
        pairs = pairs[np.asarray(sim) >= min_ratio]
    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
    )
    _, labels = connected_components(graph, directed=False)
    return labels.astype(np.int64)
