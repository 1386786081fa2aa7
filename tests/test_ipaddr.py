import ipaddress

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.ipaddr import ip_is_valid, ip_normalized, ip_prefix, ip_version, ipv4_to_int


def run(values: list[str | None]) -> pl.DataFrame:
    df = pl.DataFrame({"ip": values}, schema={"ip": pl.String})
    return df.select(
        valid=ip_is_valid(pl.col("ip")),
        version=ip_version(pl.col("ip")),
        as_int=ipv4_to_int(pl.col("ip")),
        norm=ip_normalized(pl.col("ip")),
        prefix=ip_prefix(pl.col("ip")),
    )


def reference(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def expected_prefix(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.version == 4:
        return str(ipaddress.ip_network(f"{ip}/24", strict=False))
    if ip.ipv4_mapped is not None:  # deliberate: mapped addresses key on their IPv4 /24
        return str(ipaddress.ip_network(f"{ip.ipv4_mapped}/24", strict=False))
    return str(ipaddress.ip_network((int(ip), 64), strict=False))


def expected_norm(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """``str(ip)`` without the scope; IPv4-mapped in hex (Python >= 3.13 prints them dotted)."""
    if ip.version == 4:
        return str(ip)
    plain = ipaddress.IPv6Address(int(ip))
    if plain.ipv4_mapped is not None:
        low = plain.exploded.split(":")[6:]
        return "::ffff:" + ":".join(h.lstrip("0") or "0" for h in low)
    return str(plain)


def check_against_reference(values: list[str]) -> None:
    out = run(values).to_dicts()
    for text, row in zip(values, out, strict=True):
        ip = reference(text)
        if ip is None:
            assert row == {
                "valid": False,
                "version": None,
                "as_int": None,
                "norm": None,
                "prefix": None,
            }, text
            continue
        assert row["valid"] is True, text
        assert row["version"] == ip.version, text
        assert row["as_int"] == (int(ip) if ip.version == 4 else None), text
        scope = getattr(ip, "scope_id", None)
        assert row["norm"] == expected_norm(ip) + (f"%{scope}" if scope else ""), text
        assert row["prefix"] == expected_prefix(ip), text


# ----------------------------------------------------------------------------- fixed cases

FIXED_VALID = [
    "0.0.0.0",
    "255.255.255.255",
    "203.0.113.7",
    "::",
    "::1",
    "1::",
    "2001:DB8::1",
    "2001:0db8:0000:0000:0000:0000:0000:0001",
    "2001:db8:0:1:2:3:4:5",
    "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8",
    "1:0:0:2:0:0:0:3",
    "1:0:0:2:0:0:3:4",
    "0:0:1:0:0:0:0:0",
    "::ffff:1.2.3.4",
    "::1.2.3.4",
    "a:b:c:d:e:f:1.2.3.4",
    "fe80::1%eth0",
    "FE80::ABCD%1",
]

FIXED_INVALID = [
    "",
    " ",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3.04",
    "1.2.3.4 ",
    " 1.2.3.4",
    "1.2.3.-4",
    "１.２.３.４",  # full-width digits
    "999.1.1.1",
    "x1.2.3.4",
    ":",
    ":::",
    "1:::2",
    "1::2::3",
    "1::2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::1",
    "g::1",
    ":1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:",
    "::1.2.3.256",
    "::1.2.3",
    ":1.2.3.4",
    "1.2.3.4::",
    "1:2:3:4:5:6::1.2.3.4",
    "::%",
    "%eth0",
    "::1%a%b",
    "2001:db8::1/64",
]


def test_fixed_cases_match_ipaddress():
    check_against_reference(FIXED_VALID + FIXED_INVALID)
    assert all(reference(v) is not None for v in FIXED_VALID)
    assert all(reference(v) is None for v in FIXED_INVALID)


def test_null_stays_null():
    out = run([None, "1.2.3.4"]).row(0, named=True)
    assert out == {"valid": None, "version": None, "as_int": None, "norm": None, "prefix": None}


def test_examples_from_the_contract():
    out = run(
        ["203.0.113.9", "2001:db8:0:1:aaaa::1", "2001:0DB8:0000:0001:0:0:0:2", "2001:db8::1:0:0:1"]
    )
    assert out["prefix"].to_list() == [
        "203.0.113.0/24",
        "2001:db8:0:1::/64",
        "2001:db8:0:1::/64",
        "2001:db8::/64",
    ]
    assert out["version"].dtype == pl.Int8
    assert out["as_int"].dtype == pl.UInt32
    assert out["as_int"][0] == int(ipaddress.IPv4Address("203.0.113.9"))


def test_mapped_ipv4_keys_on_its_ipv4_network():
    out = run(["::ffff:203.0.113.9", "::FFFF:cb00:7109", "203.0.113.200"])
    assert out["prefix"].to_list() == ["203.0.113.0/24"] * 3
    assert out["norm"][0] == out["norm"][1] == "::ffff:cb00:7109"


def test_accepts_column_name_and_non_string_input():
    df = pl.DataFrame({"ip": ["1.2.3.4", "::1"]})
    assert df.select(ip_version("ip")).to_series().to_list() == [4, 6]
    assert pl.DataFrame({"n": [1, None]}).select(ip_is_valid("n")).to_series().to_list() == [
        False,
        None,
    ]


def test_works_lazily_and_in_streaming_engine():
    lf = pl.LazyFrame({"ip": ["1.2.3.4", "2001:db8::1", "bad"] * 1000})
    out = lf.select(ip_prefix("ip")).collect(engine="streaming")
    assert out.to_series().to_list()[:3] == ["1.2.3.0/24", "2001:db8::/64", None]


# ----------------------------------------------------------------------------- properties


def spellings(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    out = [str(ip), ip.exploded, ip.compressed.upper()]
    if ip.version == 6:
        low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        out.append(":".join(ip.exploded.split(":")[:6]) + ":" + str(low32))
    return out


@settings(max_examples=25, deadline=None)
@given(st.lists(st.ip_addresses(), min_size=1, max_size=80))
def test_random_addresses_match_ipaddress(ips):
    values, owner = [], []
    for i, ip in enumerate(ips):
        for text in spellings(ip):
            values.append(text)
            owner.append(i)
    check_against_reference(values)
    # every spelling of one address gives one normal form and one network key
    out = run(values).with_columns(owner=pl.Series(owner))
    per_owner = out.group_by("owner").agg(pl.col("norm").n_unique(), pl.col("prefix").n_unique())
    assert per_owner["norm"].max() == 1
    assert per_owner["prefix"].max() == 1


@st.composite
def sparse_ipv6_spellings(draw):
    """IPv6 groups with many zeros, written with '::' at any zero run, random case and padding."""
    groups = draw(st.lists(st.sampled_from([0, 0, 0, 1, 0xABC, 0xFFFF]), min_size=8, max_size=8))
    texts = []
    for g in groups:
        width = draw(st.integers(len(f"{g:x}"), 4))
        t = f"{g:0{width}x}"
        texts.append(t.upper() if draw(st.booleans()) else t)
    zero_runs = [
        (i, j)
        for i in range(8)
        for j in range(i + 1, 9)
        if all(groups[k] == 0 for k in range(i, j))
    ]
    if zero_runs and draw(st.booleans()):
        i, j = draw(st.sampled_from(zero_runs))
        return ":".join(texts[:i]) + "::" + ":".join(texts[j:])
    return ":".join(texts)


@settings(max_examples=25, deadline=None)
@given(st.lists(sparse_ipv6_spellings(), min_size=1, max_size=80))
def test_compression_spellings_match_ipaddress(values):
    check_against_reference(values)


JUNK_ALPHABET = "0123456789abcdefABCDEFxg:.%/ -"


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.one_of(st.text(alphabet=JUNK_ALPHABET, max_size=45), st.text(max_size=20)),
        min_size=1,
        max_size=100,
    )
)
def test_junk_is_invalid_unless_ipaddress_accepts_it(values):
    check_against_reference(values)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("2001:db8::1", "2001:0DB8:0000:0000:0000:0000:0000:0001"),
        ("::ffff:1.2.3.4", "0:0:0:0:0:ffff:0102:0304"),
        ("fe80::1", "FE80:0:0:0:0:0:0:1"),
    ],
)
def test_two_spellings_one_address(a, b):
    out = run([a, b])
    assert out["norm"][0] == out["norm"][1]
    assert out["prefix"][0] == out["prefix"][1]
