"""The PII benchmark's corpus and scoring are truthful, and the gdpr analyzer meets its bar on a small corpus."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from stdnum import iban, luhn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.us import ssn

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))

from pii_corpus import CHECKSUM_CATEGORIES, Label, generate, read_files, read_labels
from pii_score import Counts, Prediction, checksum_macro_f1, score

from kloset.snapshot.content import content_type

#: python-stdnum's own checks, apart from the corpus's (which has its own copy for the UK, stdnum having none).
STDNUM = {
    "credit_card": lambda v: luhn.is_valid(re.sub(r"\D", "", v)),
    "iban": iban.is_valid, "us_ssn": ssn.is_valid, "fr_nir": nir.is_valid, "de_tax_id": idnr.is_valid,
    "es_dni": lambda v: dni.is_valid(v) or nie.is_valid(v), "it_fiscal_code": codicefiscale.is_valid,
    "uk_nino": lambda v: re.fullmatch(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]", v.replace(" ", "")) is not None
    and v[:2] not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"},
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pii")
    generate(root, size_mb=0.3, seed=7)
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_seed_writes_the_same_corpus(tmp_path: Path) -> None:
    # This seed's corpus holds e-mail messages with attachments, whose MIME boundaries must be seeded too.
    generate(tmp_path / "a", size_mb=0.2, seed=5)
    generate(tmp_path / "b", size_mb=0.2, seed=5)
    generate(tmp_path / "c", size_mb=0.05, seed=4)
    assert any(b"boundary=" in data for data in _tree(tmp_path / "a").values())
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert _tree(tmp_path / "a")["labels.jsonl"] != _tree(tmp_path / "c")["labels.jsonl"]


def test_checksummed_labels_are_valid_and_decoys_are_not(corpus: Path) -> None:
    labels = read_labels(corpus)
    for category in CHECKSUM_CATEGORIES:
        values = [lb.value for lb in labels if lb.category == category]
        assert values, category
        assert all(STDNUM[category](v) for v in values), category
    decoys = [json.loads(line) for line in (corpus / "decoys.jsonl").read_text().splitlines()]
    assert len(decoys) > 20
    for row in decoys:
        if row["kind"] in STDNUM:
            assert not STDNUM[row["kind"]](row["value"]), row


def test_labels_are_what_the_files_hold(corpus: Path) -> None:
    texts = {f.file: (corpus / "corpus" / f.file).read_text() for f in read_files(corpus) if f.kind != "message"}
    for name, text in texts.items():
        if name.endswith(".json"):  # \u escapes undone
            texts[name] = json.dumps(json.loads(text), ensure_ascii=False)
    for lb in read_labels(corpus):
        if lb.file in texts and lb.category not in ("postal_address", "date_of_birth"):
            assert lb.value in texts[lb.file], lb
    clean = [t for name, t in texts.items() if "-clean-" in name]
    assert clean and not any("@" in t for t in clean)
    assert not {lb.file for lb in read_labels(corpus)} & {name for name in texts if "-clean-" in name}


def test_scores_count_each_kind_of_hit_and_miss() -> None:
    labels = [Label("a", "email", "jane@example.com"), Label("a", "iban", "DE89 3704 0044 0532 0130 00"),
              Label("a", "person", "Jean Dupont"), Label("a", "postal_address", "12 rue Morel 75001 Paris"),
              Label("a", "phone", "01 23 45 67 89"), Label("a", "date_of_birth", "1985-03-12"),
              Label("a", "special:health", "diabetes"), Label("a", "us_ssn", "536-90-4399")]
    predictions = [Prediction("a", "email", "JANE@example.com"), Prediction("a", "iban", "DE89370400440532013000"),
                   Prediction("a", "iban", "GB82WEST12345698765432"),  # not in the file's labels
                   Prediction("a", "person", "Jean Dupont"), Prediction("a", "person", "Dupont"),  # one person
                   Prediction("a", "person", "Marie Curie"), Prediction("a", "postal_address", "12 rue Morel"),
                   Prediction("a", "phone", "+33 1 23 45 67 89"), Prediction("a", "date_of_birth", "12/03/1985"),
                   Prediction("a", "special:health", "treated for"), Prediction("a", "special:health", "asthma"),
                   Prediction("a", "special:religion", "Catholic"), Prediction("b", "email", "x@example.org")]
    counts = score(labels, predictions, regions={"a": "FR"})
    got = {category: (c.tp, c.fp, c.fn) for category, c in counts.items()}
    assert got == {"email": (1, 1, 0), "iban": (1, 1, 0), "person": (1, 1, 0), "postal_address": (1, 0, 0),
                   "phone": (1, 0, 0), "date_of_birth": (1, 0, 0), "special:health": (1, 0, 0),
                   "special:religion": (0, 1, 0), "us_ssn": (0, 0, 1)}
    assert score(labels, predictions, {"a": "FR"}, files={"b"})["email"] == Counts(0, 1, 0)
    assert counts["iban"].precision == 0.5 and counts["iban"].recall == 1.0 and counts["us_ssn"].f1 == 0.0
    # The day comes first in France and not in the United States.
    us = score([Label("u", "date_of_birth", "1985-03-12")], [Prediction("u", "date_of_birth", "03/12/1985")],
               regions={"u": "US"})
    assert us["date_of_birth"] == Counts(1, 0, 0)


def test_the_gdpr_analyzer_finds_checksummed_identifiers_emails_and_cards(corpus: Path) -> None:
    from kloset.analyzers.gdpr import find

    files = read_files(corpus)
    predictions = []
    for f in files:
        path = corpus / "corpus" / f.file
        data = path.read_bytes()
        for m in find(data, content_type(str(path), data[:8192]), str(path)):
            predictions.append(Prediction(f.file, m.category, m.value))
    counts = score(read_labels(corpus), predictions, {f.file: f.locale[3:] for f in files})
    assert checksum_macro_f1(counts) >= 0.95, {c: round(counts[c].f1, 3) for c in CHECKSUM_CATEGORIES}
    for category in ("email", "iban", "credit_card"):
        assert counts[category].f1 >= 0.95, (category, counts[category])
