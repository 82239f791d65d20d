"""Checksummed identifiers: valid ones are found in running text, decoys with bad checksums are not."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.us import ssn

from kloset.analyzers.gdpr import identifiers, national_ids, triggers
from kloset.analyzers.gdpr.identifiers import scan as _scan
from kloset.analyzers.gdpr.match import Match


def scan(text: str) -> list[Match]:
    return [Match(*hit) for hit in _scan(text)]

VALID = [
    ("credit_card", "4111 1111 1111 1111"),
    ("credit_card", "5500-0000-0000-0004"),
    ("credit_card", "378282246310005"),
    ("credit_card", "4111 1111 1111 1111 003"),  # a 19-digit Visa, written 4-4-4-4-3
    ("credit_card", "4111-1111-1111-1111-003"),
    ("iban", "GB82 WEST 1234 5698 7654 32"),
    ("iban", "DE89370400440532013000"),
    ("us_ssn", "536-90-4399"),
    ("uk_nino", "AB 12 34 56 C"),
    ("fr_nir", "2 95 10 99 126 111 93"),
    ("de_tax_id", "36574261809"),
    ("es_dni", "54362315K"),
    ("es_dni", "X2482300W"),
    ("it_fiscal_code", "RCCMNL83S18D969H"),
    ("ipv4", "203.0.113.42"),
    ("ipv4", "192.168.1.20"),
    ("ipv6", "2001:db8:85a3::8a2e:370:7334"),
    ("ipv6", "2a01:e0a:1c3:4b20::1"),
]

DECOYS = [
    "4111 1111 1111 1112",          # Luhn fails
    "1234567812345670",             # Luhn holds, but no issuer uses the range
    "4111 1111 1111 1111 004",      # Luhn fails on the 19 digits, though it holds on the first 16
    "GB82 WEST 1234 5698 7654 33",  # mod-97 fails
    "DE8937040044053201300",        # one digit short for Germany
    "078-05-1120",                  # the famous invalid SSN
    "000-12-3456",                  # area 000 is never issued
    "GB 12 34 56 C",                # a prefix never issued
    "2 95 10 99 126 111 94",        # NIR key fails
    "36574261808",                  # tax ID check digit fails
    "54362315Z",                    # DNI letter fails
    "RCCMNL83S18D969X",             # fiscal code check letter fails
    "999.12.1.1",                   # not an IPv4 address
    "127.0.0.1",                    # loopback points at no one
    "1.2.3.4.5",                    # a dotted version number
    "12:30:45",                     # a time
    "::1",                          # loopback
]


@pytest.mark.parametrize(("category", "value"), VALID)
def test_a_valid_identifier_is_found_in_text(category: str, value: str) -> None:
    text = f"Customer record. Reference: {value}; please keep it private."
    found = [m for m in scan(text) if m.category == category]
    assert [(m.value, m.start) for m in found] == [(value, text.index(value))]
    assert 0.5 < found[0].confidence <= 1.0


@pytest.mark.parametrize("value", DECOYS)
def test_a_decoy_is_not_a_finding(value: str) -> None:
    assert list(scan(f"Reference: {value}.")) == []


def test_plain_numbers_and_words_are_not_findings() -> None:
    text = ("Order 12345 shipped on 2024-05-06 at 10:15:30, 3 items, total 129.90 EUR; tracking ABCDEF123; "
            "built with Python 3.11.7 and zlib 1.2.13.")
    assert list(scan(text)) == []


def test_an_identifier_may_open_the_text() -> None:
    assert [(m.category, m.start) for m in scan("192.168.1.20 - - GET /")] == [("ipv4", 0)]


@pytest.mark.parametrize("value", [
    "2001:db8::1", "2a01:e0a:1c3:4b20::1", "fd12:3456:789a:1::1", "fec0::1", "feff::", "fe80::1", "febf::1",
    "ff02::1", "::1", "::", "::ffff", "1fff::1", "4000::1", "fc00::", "fdff:ffff::1", "fe00::1", "3fff:0:0:0:0:0:0:1",
    "2001:db8:0:0:0:0:0:0:1", "2001:db8::1::2", ":2001:db8::1", "2001:db8::1:", "2001:db8:1:2:3:4:5", "::2001",
    "2001::", "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "1:2:3:4::5:6:7:8", "2001:db8:1:2:3:4:5:", "ab:cd",
])
def test_an_ipv6_address_is_judged_as_ipaddress_judges_it(value: str) -> None:
    try:
        address = ipaddress.IPv6Address(value)
        expected = not (address.is_loopback or address.is_unspecified or address.is_multicast or address.is_reserved
                        or address.is_link_local)
    except ValueError:
        expected = False
    assert identifiers._ipv6(value) is expected


@pytest.mark.parametrize("digits", ["4111111111111111", "4111111111111112", "79927398713", "0", "18", "59"])
def test_the_luhn_check_is_the_sum_of_digits_with_every_second_doubled(digits: str) -> None:
    total = sum(sum(divmod(int(d) * (1 + i % 2), 10)) for i, d in enumerate(reversed(digits)))
    assert identifiers.luhn(digits) is (total % 10 == 0)


@pytest.mark.parametrize(("check", "reference", "values"), [
    (national_ids.us_ssn, ssn.is_valid, ["123-45-6789", "000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567",
                                          "123-45-0000", "078-05-1120", "219-09-9999", "１２３-45-6789"]),
    (national_ids.fr_nir, nir.is_valid, ["295109912611193", "295109912611194", "2951099126111", "1850578006084",
                                         "185052A12345678", "185052A12345633", "185052B12345660"]),
    (national_ids.de_tax_id, idnr.is_valid, ["36574261809", "36574261808", "06574261809", "11111111111",
                                             "12345678903", "11234567890", "11123456780"]),
    (national_ids.es_dni, dni.is_valid, ["54362315K", "54362315-K", "54362315Z", "00000000T", "00000000-A"]),
    (national_ids.es_nie, nie.is_valid, ["X2482300W", "X-2482300-W", "Y2482300W", "Z2482300A", "X2482300A"]),
    (national_ids.it_fiscal_code, codicefiscale.is_valid, ["RCCMNL83S18D969H", "RCCMNL83S18D969A", "RCCMNL83S58D969L",
                                                           "RCCMNL83S70D969V", "MRTMTTVMDLMF205T", "RCCMNL83B30D969F"]),
])
def test_a_national_identifier_check_gives_stdnums_verdict(check: Callable[[str], bool],
                                                           reference: Callable[[str], bool], values: list[str]) -> None:
    for value in values:
        assert check(value) is reference(value), value


#: Runs the triggers of both engines must find alike: a run's seventh character may be a digit of another script.
RUN_TEXTS = ["x 123456 y", "1234567", "123456?7890123", "12345\u06637890", "123456\u06637890", "a\u06631234567",
             "ab123456789 12 345 678", "+33 1 23 45 67 89", "(212) 555-0101", "1.2.3.4 and 10.0.0.1",
             "2024-05-12 10:11:12 200 1234567", "12345 6 x", "\u4e00123456\u4e00"]


@pytest.mark.parametrize("text", RUN_TEXTS)
def test_the_runs_of_digits_are_the_same_without_hyperscan(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with_hyperscan = list(identifiers.runs(text, triggers.find(text)["numeric"]))
    monkeypatch.setattr(triggers, "hyperscan", None)
    assert list(identifiers.runs(text, triggers.find(text)["numeric"])) == with_hyperscan
