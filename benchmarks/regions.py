"""IP属地 (the province a review page shows) for every review of a generated market.

A province is a property of the network, not of the review: a carrier NAT, a
campus or a farm's address pool sits in one province. So each review first
gets the province its writer would show, then every network (the /16 of an
IPv4 address, the /48 of an IPv6 one) takes the province most of its reviews
want, and each review shows its network's. Reviews of one address therefore
always show one province.

What the reviews want:

* honest buyers: a home province drawn from the population share of each
  province (2020 census, noise per seed: online shopping is not exactly
  population); a roaming address (a review away from the buyer's usual
  network) is a traveller's and shows a province drawn afresh;
* regional shops (``regional_shop_share`` of the shops): a buyer whose first
  review is at one is local (the shop's province) with the shop's local share;
* local flash sales (``local_flash_share`` of the flash-sale products): a
  buyer in one is local with the sale's local share (a sale promoted in one
  city);
* fake accounts: a province among their campaign's ``region_provinces``
  (farms sit in one or a few provinces), for every review of the account
  (its history and camouflage too); a campaign spread over more than
  :data:`SPREAD_FROM` provinces buys a proxy pool whose every exit shows its
  own province, drawn per review.
"""

from __future__ import annotations

import numpy as np
import polars as pl

#: Provinces (short names as review pages show them) and their population in millions (2020).
POPULATION: dict[str, float] = {
    "广东": 126.0, "山东": 101.5, "河南": 99.4, "江苏": 84.7, "四川": 83.7, "河北": 74.6,
    "湖南": 66.4, "浙江": 64.6, "安徽": 61.0, "湖北": 57.8, "广西": 50.1, "云南": 47.2,
    "江西": 45.2, "辽宁": 42.6, "福建": 41.5, "陕西": 39.5, "贵州": 38.6, "山西": 34.9,
    "重庆": 32.1, "黑龙江": 31.9, "新疆": 25.9, "甘肃": 25.0, "上海": 24.9, "吉林": 24.1,
    "内蒙古": 24.0, "北京": 21.9, "天津": 13.9, "海南": 10.1, "香港": 7.5, "宁夏": 7.2,
    "青海": 5.9, "西藏": 3.6, "澳门": 0.7,
}  # fmt: skip
PROVINCES: tuple[str, ...] = tuple(POPULATION)
#: A campaign drawing from more provinces than this uses proxies: a province per review.
SPREAD_FROM = 3


def province_weights(rng: np.random.Generator, noise: float = 0.3) -> np.ndarray:
    """Population shares with log-normal noise (``noise`` = sigma), summing to one."""
    w = np.array(list(POPULATION.values())) * np.exp(rng.normal(0.0, noise, len(POPULATION)))
    return w / w.sum()


def _dense(x: np.ndarray) -> np.ndarray:
    return np.unique(x, return_inverse=True)[1].astype(np.int64)


def _network(raw: pl.DataFrame) -> np.ndarray:
    """Dense id of each review's network: the /16 of an IPv4 address, the /48 of an IPv6 one."""
    v6 = raw["ip_v6"].to_numpy()
    hi = raw["ip_hi"].to_numpy()
    lo = raw["ip_lo"].to_numpy()
    key = np.where(v6, (hi >> np.uint64(16)) | np.uint64(1 << 62), lo >> np.uint64(16))
    return _dense(key)


def _modal(group: np.ndarray, value: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Per group (dense ids), its most frequent value (ties by ``tiebreak`` per value)."""
    n_v = int(value.max()) + 1
    pair, counts = np.unique(group * n_v + value, return_counts=True)
    g, v = pair // n_v, pair % n_v
    order = np.lexsort((tiebreak[v], -counts, g))
    first = np.ones(order.size, dtype=bool)
    first[1:] = g[order][1:] != g[order][:-1]
    out = np.zeros(int(group.max()) + 1, dtype=np.int64)
    out[g[order][first]] = v[order][first]
    return out


def _homes(
    rng, raw: pl.DataFrame, cfg, w: np.ndarray, flash_code: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per user, the home province (index into :data:`PROVINCES`) of an honest buyer, and
    whether it is a regional shop's or a local flash sale's province."""
    user = raw["user"].to_numpy()
    shop = raw["shop"].to_numpy().astype(np.int64)
    n_users, n_shops, k = int(user.max()) + 1, int(shop.max()) + 1, len(w)
    home = rng.choice(k, n_users, p=w)
    regional = rng.random(n_shops) < cfg.regional_shop_share
    shop_prov = rng.choice(k, n_shops, p=w)
    local = rng.uniform(*cfg.regional_local_share, n_shops)
    seen, first = np.unique(user, return_index=True)
    main = shop[first]
    is_local = regional[main] & (rng.random(seen.size) < local[main])
    home[seen[is_local]] = shop_prov[main[is_local]]
    local_user = np.zeros(n_users, dtype=bool)
    local_user[seen[is_local]] = True
    flash = np.flatnonzero(raw["trap"].to_numpy() == flash_code)
    if flash.size and cfg.local_flash_share > 0:
        product = raw["product"].to_numpy()[flash]
        n_p = int(product.max()) + 1
        sale_local = rng.random(n_p) < cfg.local_flash_share
        sale_prov = rng.choice(k, n_p, p=w)
        sale_share = rng.uniform(*cfg.local_flash_local, n_p)
        buyer = sale_local[product] & (rng.random(flash.size) < sale_share[product])
        home[user[flash][buyer]] = sale_prov[product[buyer]]
        local_user[user[flash][buyer]] = True
    return home, local_user


def region_codes(
    rng: np.random.Generator, raw: pl.DataFrame, cfg, flash_code: int, families: tuple
) -> tuple[np.ndarray, np.ndarray]:
    """Per review of ``raw`` (a generator block frame), its province's index in :data:`PROVINCES`.

    ``cfg`` is the :class:`benchmarks.generator.GeneratorConfig` (regional
    knobs), ``families`` the attack families' configs by family code (their
    ``region_provinces``); ``flash_code`` the trap code of flash-sale reviews.
    Also returns which reviews are an honest local buyer's at a regional shop
    or a local flash sale, from their home network.
    """
    n, k = raw.height, len(PROVINCES)
    w = province_weights(rng, cfg.region_noise)
    user = raw["user"].to_numpy()
    family = raw["family"].to_numpy().astype(np.int64)
    home, local_user = _homes(rng, raw, cfg, w, flash_code)
    net = _network(raw)
    usual = _modal(user, net, rng.random(int(net.max()) + 1))
    at_home = net == usual[user]
    want = np.where(at_home, home[user], rng.choice(k, n, p=w))  # travellers
    local = at_home & local_user[user]

    fake = np.flatnonzero(family >= 0)
    if fake.size:
        camp = _dense(family[fake] * (1 << 32) + raw["campaign"].to_numpy()[fake])
        n_c = int(camp.max()) + 1
        fam_of = np.zeros(n_c, dtype=np.int64)
        fam_of[camp] = family[fake]
        spans = [families[f].region_provinces for f in fam_of]
        n_prov = np.array([rng.integers(lo, hi + 1) for lo, hi in spans])
        provs = np.stack([rng.choice(k, k, replace=False, p=w) for _ in range(n_c)])
        # an account works for its first campaign, in one of its provinces
        acc, first = np.unique(user[fake], return_index=True)
        acc_camp = camp[first]
        acc_prov = provs[acc_camp, rng.integers(0, n_prov[acc_camp])]
        is_acc = np.zeros(int(user.max()) + 1, dtype=bool)
        is_acc[acc] = True
        owner = np.zeros(int(user.max()) + 1, dtype=np.int64)
        owner[acc] = acc_prov
        rows = is_acc[user]
        want[rows] = owner[user[rows]]
        local &= ~rows
        spread = n_prov[camp] > SPREAD_FROM
        if spread.any():  # proxies: each review's exit its own network and province
            r = fake[spread]
            c = camp[spread]
            want[r] = provs[c, (rng.random(r.size) * n_prov[c]).astype(np.int64)]
            net = net.copy()
            net[r] = int(net.max()) + 1 + np.arange(r.size)
    codes = _modal(net, want, rng.random(k))[net]
    return codes, local & (codes == want)


def region_series(codes: np.ndarray) -> pl.Series:
    """The ``ip_region`` column for province indices."""
    return pl.Series("ip_region", PROVINCES, dtype=pl.String).gather(codes)
