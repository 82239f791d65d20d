"""Each category found where it applies, decoys and look-alikes not found, as find() and the analyzer report them."""

from __future__ import annotations

import phonenumbers
import pytest

from kloset.analyzers.gdpr import Match, find, phones
from kloset.registry import analyzer_class


def categories(text: str, content_type: str = "text/plain", path: str = "a.txt") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in find(text.encode(), content_type, path):
        out.setdefault(m.category, []).append(m.value)
    return out


@pytest.mark.parametrize(("category", "text", "value"), [
    ("email", "write to jane.doe@example.com today", "jane.doe@example.com"),
    ("phone", "call +44 20 7946 0958 now", "+44 20 7946 0958"),
    ("phone", "appelez le 01 23 45 67 89 demain", "01 23 45 67 89"),
    ("phone", "ruf an: 030 12345678 bitte", "030 12345678"),
    ("phone", "call (212) 555-0123 now", "(212) 555-0123"),
    ("credit_card", "card 4111 1111 1111 1111 exp", "4111 1111 1111 1111"),
    ("iban", "IBAN DE89 3704 0044 0532 0130 00 ok", "DE89 3704 0044 0532 0130 00"),
    ("ipv4", "from 203.0.113.9 via", "203.0.113.9"),
    ("ipv6", "from 2001:db8::1 via", "2001:db8::1"),
    ("us_ssn", "SSN 536-90-4399.", "536-90-4399"),
    ("uk_nino", "NI number AB 12 34 56 C here", "AB 12 34 56 C"),
    ("fr_nir", "NIR 2 95 10 99 126 111 93 ici", "2 95 10 99 126 111 93"),
    ("de_tax_id", "Steuer-ID 36 574 261 809 hier", "36 574 261 809"),
    ("es_dni", "DNI 54362315K aquí", "54362315K"),
    ("es_dni", "NIE X1234567L aquí", "X1234567L"),
    ("it_fiscal_code", "CF RSSMRA85T10A562S qui", "RSSMRA85T10A562S"),
    ("date_of_birth", "She was born on 12/03/1985 in Lyon.", "12/03/1985"),
    ("person", "Dear Jane Doe,\nthanks", "Jane Doe"),
    ("person", "Name: Jean Dupont\n", "Jean Dupont"),
    ("postal_address", "Ship to\n12 High Street\nLondon\nSW1A 1AA\n", "12 High Street\nLondon\nSW1A 1AA"),
])
def test_each_category_is_found_with_its_value(category: str, text: str, value: str) -> None:
    assert value in categories(text).get(category, []), categories(text)


def test_a_date_without_birth_words_is_no_birth_date() -> None:
    assert "date_of_birth" not in categories("The invoice of 12/03/1985 is paid.")


def test_special_categories_are_hints_of_low_confidence() -> None:
    found = [m for m in find(b"He was diagnosed with diabetes and is a union member of the trade union.")
             if m.category.startswith("special:")]
    assert {m.category for m in found} == {"special:health", "special:union"}
    assert all(m.confidence <= 0.5 for m in found)


@pytest.mark.parametrize("text", [
    "card 4111 1111 1111 1112", "IBAN DE89 3704 0044 0532 0130 01", "NIR 2 95 10 99 126 111 94",
    "Steuer-ID 36574261808", "DNI 54362315A", "CF RSSMRA85T10A562X", "from 999.1.2.3 via", "SSN 000-12-3456",
])
def test_decoys_with_a_bad_checksum_or_range_are_not_found(text: str) -> None:
    assert categories(text) == {}


@pytest.mark.parametrize("text", [
    "req=fd724452-ccea-41ff-8a14-876aeaff1a09 req=06055322-c1b4-4fc5-8a14-876aeaff1a09",
    "2013-07-19T14:35:35.326367 INFO latency=216.4ms",
    'ua="Mozilla/5.0 v39.0.1690" version 10.2.3.4567 build 4.12.1234567',
    "hash 0x7f3a9c21d4e5b6a8 sha 5d41402abc4b2a76b9719d911017c592",
    "issued 04/11/2023, renewed 01.08.1982, sent 2024-05-12 10:11",
])
def test_no_phone_numbers_in_identifiers_times_or_versions(text: str) -> None:
    assert "phone" not in categories(text), categories(text)


@pytest.mark.parametrize("text, number", [
    ("Appelez le (+33 1 42 68 53 00) demain", "+33 1 42 68 53 00"),
    ("tel. ((0)20 7946 0958) office", "(0)20 7946 0958"),
])
def test_a_number_behind_a_bracket_is_read_from_its_sign_or_bracket(text: str, number: str) -> None:
    assert [m.value for m in find(text.encode()) if m.category == "phone"] == [number]


def test_matches_are_placed_in_the_text() -> None:
    text = "x\nDear Jane Doe, mail jane@example.com or call +33 1 23 45 67 89.\n"
    matches = find(text.encode())
    assert matches and all(isinstance(m, Match) and text[m.start:m.end] == m.value for m in matches)


def test_csv_columns_name_people_birth_dates_and_bare_phone_numbers() -> None:
    text = ("first_name,last_name,birthdate,phone,note\n"
            "Jane,Doe,1985-03-12,2025550123,\"likes, commas\"\n")
    found = categories(text, "text/csv", "people.csv")
    assert set(found["person"]) == {"Jane", "Doe"}
    assert found["date_of_birth"] == ["1985-03-12"] and found["phone"] == ["2025550123"]


def test_names_with_an_elided_prefix_are_whole() -> None:
    assert categories("Dear Mr O'Donnell,\n")["person"] == ["O'Donnell"]
    assert categories("Name: Siobhan O’Donnell\n")["person"] == ["Siobhan O’Donnell"]
    assert categories("name,city\nDara O'Brien,Cork\n", "text/csv", "people.csv")["person"] == ["Dara O'Brien"]


def test_an_address_in_a_quoted_csv_cell_ends_with_the_cell() -> None:
    text = 'name,address,dob\nJean Dupont,"56, chemin de Bertrand\n14662 Sainte Henriette",2001-12-21\n'
    found = categories(text, "text/csv", "people.csv")
    assert set(found["postal_address"]) == {"56, chemin de Bertrand\n14662 Sainte Henriette"}


def test_display_names_of_addresses_are_people() -> None:
    assert categories("From: Jane Doe <jane@example.com>\n")["person"] == ["Jane Doe"]


def test_samples_are_masked_unless_asked_for() -> None:
    data = b"mail jane.doe@example.com card 4111 1111 1111 1111\n"
    for options, email, card in ((None, "j***@example.com", "***1111"),
                                 ({"unmasked": "1"}, "jane.doe@example.com", "4111 1111 1111 1111")):
        a = analyzer_class("gdpr")(options, content_type="text/plain", path="a.txt")
        a.feed(data)
        samples = {f.category: f.sample for f in a.finish().findings}
        assert (samples["email"], samples["credit_card"]) == (email, card)


def test_values_split_between_pieces_are_found() -> None:
    data = ("x" * 700 + " jane.doe@example.com 4111 1111 1111 1111\n").encode() * 3
    a = analyzer_class("gdpr")(content_type="text/plain", path="a.txt")
    for i in range(0, len(data), 5):
        a.feed(data[i:i + 5])
    counts = {f.category: f.count for f in a.finish().findings}
    assert counts == {"email": 3, "credit_card": 3}


@pytest.mark.parametrize("region", ["US", "GB", "FR", "DE", "ES", "IT", "NL", "CA", "JM", "BE", "CH", "JP", "BR"])
def test_a_region_check_agrees_with_phonenumbers(region: str) -> None:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    examples = {desc.example_number for desc in (getattr(metadata, name) for name in phones._TYPES)
                if desc is not None and desc.example_number}
    variants = {e[:-1] for e in examples} | {e + "0" for e in examples} | {"9" + e[1:] for e in examples}
    for example in examples | variants:
        number = phonenumbers.PhoneNumber(country_code=metadata.country_code, national_number=int(example))
        if example[0] != "0":  # a leading zero would be lost to int(), and with it the number phonenumbers reads
            assert phones.valid_in(example, region) is phonenumbers.is_valid_number_for_region(number, region)
