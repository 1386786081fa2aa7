import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from features.minhash import candidate_pairs, cluster_texts, signatures


def test_signatures_deterministic_and_order_free():
    texts = ["质量很好物流很快非常满意", "完全不同的一段文字内容", "ab"]
    a = signatures(texts)
    b = signatures(texts[::-1])[::-1]
    assert a.shape == (3, 64)
    assert np.array_equal(a, b)


def test_near_duplicates_cluster_and_distinct_texts_do_not():
    base = "这款保温杯质量非常好保温效果一流物流也很快推荐购买"
    variants = [
        base,
        base.replace("非常", "特别"),
        base.replace("推荐购买", "值得推荐"),
        base + "哈哈",
    ]
    others = [
        "衣服尺码偏小颜色和图片有色差不太满意",
        "手机壳做工粗糙边缘有毛刺",
        "书本印刷清晰包装完好",
    ]
    labels = cluster_texts(variants + others)
    assert len(set(labels[:4])) == 1
    assert len(set(labels[4:])) == 3
    assert labels[4] != labels[0]


def test_candidate_pairs_are_subquadratic_for_distinct_texts():
    rng = np.random.default_rng(1)
    chars = [chr(0x4E00 + i) for i in range(2000)]
    texts = ["".join(rng.choice(chars, 30)) for _ in range(3000)]
    pairs = candidate_pairs(signatures(texts))
    assert len(pairs) < 3000  # random texts almost never collide


def test_empty_and_single():
    assert cluster_texts([]).size == 0
    assert cluster_texts(["只有一条"]).tolist() == [0]


def test_clusters_do_not_depend_on_how_band_keys_are_hashed(monkeypatch):
    # A bucket is chained in text order; another injective key hash (here the
    # keys xor-ed with a constant, which reorders buckets) must give the same
    # partition.
    import features.minhash as mh

    rng = np.random.default_rng(3)
    base = "这款保温杯质量非常好保温效果一流物流也很快推荐购买"
    chars = list("质量好差物流快慢推荐满意颜色尺码")
    texts = sorted(
        {"".join(c if rng.random() > 0.15 else rng.choice(chars) for c in base) for _ in range(300)}
    )
    first = mh.cluster_texts(texts)
    real = mh.band_keys
    monkeypatch.setattr(mh, "band_keys", lambda sig: real(sig) ^ np.uint64(0x9E3779B97F4A7C15))
    second = mh.cluster_texts(texts)
    pairs = {(a, b) for a, b in zip(first.tolist(), second.tolist(), strict=True)}
    assert len(pairs) == len(set(first.tolist())) == len(set(second.tolist()))
    assert len(set(first.tolist())) < len(texts)  # some texts did cluster


def test_band_pairs_equal_a_stable_sort_by_key_even_where_key_tops_clash():
    """Chains of the packed sort are exactly those of a stable argsort of the full keys."""
    import numpy as np

    from features.minhash import band_pairs

    def reference(keys):
        n = keys.shape[0]
        out = []
        for band in range(keys.shape[1]):
            order = np.argsort(keys[:, band], kind="stable")
            sk = keys[:, band][order]
            same = sk[1:] == sk[:-1]
            a, b = order[:-1][same], order[1:][same]
            out.append(np.minimum(a, b) * n + np.maximum(a, b))
        pk = np.unique(np.concatenate(out))
        return pk // n, pk % n

    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(2, 2000))
        # few distinct top bits and low bits that differ: keys clash in the packed sort
        keys = (rng.integers(0, 4, (n, 3)).astype(np.uint64) << np.uint64(50)) | rng.integers(
            0, 3, (n, 3)
        ).astype(np.uint64)
        got, want = band_pairs(keys), reference(keys)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(0, 40), max_size=300),
    chunk=st.integers(1, 64),
)
def test_in_place_dedup_equals_unique(values, chunk):
    """Compacting a sorted array in place, chunk by chunk, keeps exactly its distinct values."""
    from features import minhash as mh

    a = np.sort(np.asarray(values, dtype=np.uint64))
    old, mh._COMPACT_CHUNK = mh._COMPACT_CHUNK, chunk
    try:
        got = mh._dedup_sorted_in_place(a.copy())
    finally:
        mh._COMPACT_CHUNK = old
    assert np.array_equal(got, np.unique(a))


def test_concat_freeing_equals_concatenate():
    from features.minhash import _concat_freeing

    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 100, int(k), dtype=np.uint64) for k in rng.integers(0, 50, 9)]
    want = np.concatenate(parts)
    got = _concat_freeing(list(parts))
    assert np.array_equal(got, want)


def test_star_clusters_do_not_chain():
    """A path a-b-c-d-e of links: no cluster holds two texts that are not linked through its leader."""
    from features.minhash import star_clusters

    left, right = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4])
    lab = star_clusters(5, left, right)
    linked = {(0, 1), (1, 2), (2, 3), (3, 4)}
    for c in np.unique(lab):
        members = np.flatnonzero(lab == c)
        if members.size > 2:  # a star: one member linked to every other
            assert any(
                all(tuple(sorted((m, o))) in linked for o in members if o != m) for m in members
            )
    assert np.unique(lab).size >= 2  # the path is not one cluster
    # a star around the most linked text stays whole; ties go to the first text
    hub = star_clusters(5, np.array([0, 0, 0, 0]), np.array([1, 2, 3, 4]))
    assert np.unique(hub).size == 1


def test_star_clusters_depend_on_the_links_only():
    from features.minhash import star_clusters

    rng = np.random.default_rng(0)
    left, right = rng.integers(0, 300, 800), rng.integers(0, 300, 800)
    keep = left != right
    left, right = left[keep], right[keep]
    a = star_clusters(300, left, right)
    perm = rng.permutation(left.size)
    b = star_clusters(300, right[perm], left[perm])  # same links, other order and direction
    np.testing.assert_array_equal(a, b)
