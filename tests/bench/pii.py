#!/usr/bin/env python3
"""PII benchmark: the gdpr analyzer's precision, recall and speed on a labelled corpus, beside Presidio's.

    python tests/bench/pii.py [--size-mb 20] [--sample-mb 2] [--seed 1] [--work DIR] [--no-presidio] [--json]
                              [--backup [--repeat 3]]

The corpus (tests/bench/pii_corpus.py) is written once per size and seed under --work and reused.
Quality is scored per file and category (tests/bench/pii_score.py). Our detector is
``kloset.analyzers.gdpr.find``, given the content type the engine would record; Presidio runs its
predefined pattern recognizers with the no-op NLP engine (no spaCy model, hence no PERSON or LOCATION,
and no context words read from the text), all of them set to English so that each runs on every file,
at its default score threshold. Presidio is slow, so both are scored on the same sample, the corpus's
first files up to --sample-mb; ours is also scored and timed on the whole corpus. Throughput is the
analyzer as the engine runs it: one instance per file, fed 1 MiB pieces, on one core. --backup times
``kloset backup`` without and with ``--analyze gdpr,email``, each into a fresh store in a process of
its own, best of --repeat.

Bars: (a) ours F1 ≥ Presidio's for every category both detect; (b) checksum macro F1 ≥ 0.95;
(c) ≥ 10 MB/s; (d) a backup with analysis takes ≤ 1.5 times one without. The exit status is 0 whatever
the verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pii_corpus import CATEGORIES, File, ensure, read_labels
from pii_score import Counts, Prediction, checksum_macro_f1, decoys_flagged, macro_f1, micro_f1, score

from kloset.registry import analyzer_class
from kloset.snapshot.content import _HEAD as HEAD  # the engine guesses a type from this much of the head
from kloset.snapshot.content import content_type

PIECE = 1 << 20
#: Presidio's entities, as our categories; IP_ADDRESS is split by the address's family.
PRESIDIO = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card", "IBAN_CODE": "iban",
            "IP_ADDRESS": "ip", "US_SSN": "us_ssn", "UK_NINO": "uk_nino", "DE_TAX_ID": "de_tax_id",
            "ES_NIF": "es_dni", "ES_NIE": "es_dni", "IT_FISCAL_CODE": "it_fiscal_code",
            # Presidio has no notion of a birth date: every date it finds is taken as one.
            "DATE_TIME": "date_of_birth", "PERSON": "person", "LOCATION": "postal_address"}
BARS = {"f1_vs_presidio": "ours F1 ≥ Presidio F1, every category both detect",
        "checksum_f1": "checksum macro F1 ≥ 0.95", "throughput": "throughput ≥ 10 MB/s",
        "backup": "backup --analyze gdpr,email ≤ 1.5 × backup"}


@dataclass
class Run:
    """What one detector predicted over some files, and the seconds it took."""

    predictions: list[Prediction]
    seconds: float
    nbytes: int

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / 1e6 / self.seconds if self.seconds else 0.0


def read_corpus(work: Path, files: list[File]) -> Iterator[tuple[File, str, bytes]]:
    """Each file with its path (as a backup of the corpus folder would record it) and bytes."""
    for f in files:
        path = work / "corpus" / f.file
        yield f, str(path), path.read_bytes()


def ours(corpus: list[tuple[File, str, bytes]]) -> Run | str:
    try:
        from kloset.analyzers.gdpr import find
    except ImportError as e:
        return f"kloset.analyzers.gdpr.find is not there ({e})"
    predictions, seconds = [], 0.0
    for f, path, data in corpus:
        kind = content_type(path, data[:HEAD])
        t = time.perf_counter()
        try:
            matches = find(data, kind, path)
        except Exception as e:  # the scores of the others are still worth printing
            return f"find() failed on {f.file}: {type(e).__name__}: {e}"
        seconds += time.perf_counter() - t
        predictions += [Prediction(f.file, m.category, m.value) for m in matches]
    return Run(predictions, seconds, sum(len(d) for _, _, d in corpus))


def presidio_engine() -> Any:
    # Its e-mail recognizer's tldextract would fetch the public suffix list; the copy it ships will do.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DateRecognizer,
        DeTaxIdRecognizer,
        EmailRecognizer,
        EsNieRecognizer,
        EsNifRecognizer,
        IbanRecognizer,
        IpRecognizer,
        ItFiscalCodeRecognizer,
        PhoneRecognizer,
        UkNinoRecognizer,
        UsSsnRecognizer,
    )

    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "no_op", "models": [{"lang_code": "en", "model_name": "no_op"}]}).create_engine()
    registry = RecognizerRegistry(supported_languages=["en"])
    for cls in (CreditCardRecognizer, DateRecognizer, DeTaxIdRecognizer, EmailRecognizer, EsNieRecognizer,
                EsNifRecognizer, IbanRecognizer, IpRecognizer, ItFiscalCodeRecognizer, UkNinoRecognizer,
                UsSsnRecognizer):
        registry.add_recognizer(cls(supported_language="en"))
    # Its default regions leave out four of the corpus's seven countries.
    registry.add_recognizer(PhoneRecognizer(supported_language="en",
                                            supported_regions=("US", "GB", "FR", "DE", "ES", "IT", "NL")))
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])


def presidio(corpus: list[tuple[File, str, bytes]]) -> Run | str:
    try:
        engine = presidio_engine()
    except ImportError as e:
        return f"presidio-analyzer is not installed ({e})"
    predictions, seconds = [], 0.0
    for f, _, data in corpus:
        t = time.perf_counter()
        text = data.decode("utf-8", "replace")
        results = engine.analyze(text=text, language="en", entities=list(PRESIDIO))
        seconds += time.perf_counter() - t
        for r in results:
            value = text[r.start:r.end]
            category = PRESIDIO[r.entity_type]
            if category == "ip":
                category = "ipv6" if ":" in value else "ipv4"
            predictions.append(Prediction(f.file, category, value))
    return Run(predictions, seconds, sum(len(d) for _, _, d in corpus))


def one_core() -> Callable[[], None]:
    """Pin this process to one core; what undoes it."""
    if not hasattr(os, "sched_setaffinity"):
        return lambda: None
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    return lambda: os.sched_setaffinity(0, before)


def throughput(corpus: list[tuple[File, str, bytes]]) -> Run | str:
    """The gdpr analyzer as a backup runs it on each file: only what it wants, up to its max_bytes."""
    cls = analyzer_class("gdpr")
    seconds, fed, path = 0.0, 0, ""
    undo = one_core()
    try:
        for _, path, data in corpus:
            kind = content_type(path, data[:HEAD])
            if not cls.wants(kind, path):
                continue
            limit = len(data) if cls.max_bytes is None else min(len(data), cls.max_bytes)
            t = time.perf_counter()
            a = cls(content_type=kind, path=path)
            for i in range(0, limit, PIECE):
                a.feed(data[i:min(limit, i + PIECE)])
            a.finish()
            seconds += time.perf_counter() - t
            fed += limit
    except Exception as e:  # as in ours()
        return f"the analyzer failed on {path}: {type(e).__name__}: {e}"
    finally:
        undo()
    return Run([], seconds, fed)


def backup_ratio(directory: Path, repeat: int) -> dict[str, float] | str:
    """Best-of seconds of a backup without and with analysis, each into a fresh store, in a process of its own."""
    kloset = shutil.which("kloset") or "kloset"
    env = {**os.environ, "KLOSET_AGENT": "off"}  # no agent left behind, nor one shared between the runs
    usage = subprocess.run([kloset, "backup", "--help"], capture_output=True, text=True, env=env).stdout
    if "--analyze" not in usage:
        return "kloset backup has no --analyze option yet"
    best = {"plain": float("inf"), "analyze": float("inf")}
    with tempfile.TemporaryDirectory(prefix="kloset-pii-") as tmp:
        for rep in range(repeat):
            # Alternated, so that neither side always runs on a cache the other warmed.
            for side in (("plain", "analyze") if rep % 2 == 0 else ("analyze", "plain")):
                store = f"{tmp}/{side}-{rep}"
                subprocess.run([kloset, "at", store, "create", "--plaintext"], check=True, capture_output=True,
                               env=env)
                extra = ["--analyze", "gdpr,email"] if side == "analyze" else []
                t = time.perf_counter()
                subprocess.run([kloset, "at", store, "backup", "-q", *extra, str(directory)], check=True,
                               capture_output=True, env=env)
                best[side] = min(best[side], time.perf_counter() - t)
                shutil.rmtree(store)
    return {**best, "ratio": best["analyze"] / best["plain"]}


def _sample(files: list[File], sample_mb: float) -> set[str]:
    chosen, total = set(), 0
    for f in files:
        if total >= sample_mb * 1e6:
            break
        chosen.add(f.file)
        total += f.bytes
    return chosen


def _scored(run: Run | str, labels: list[Any], regions: dict[str, str], files: set[str],
            decoys: list[tuple[str, str]]) -> dict[str, Any] | str:
    if isinstance(run, str):
        return run
    predictions = [p for p in run.predictions if p.category in CATEGORIES and p.file in files]
    counts = score(labels, predictions, regions, files)
    return {"counts": counts, "detects": {p.category for p in predictions},
            "micro_f1": micro_f1(counts), "macro_f1": macro_f1(counts), "checksum_macro_f1": checksum_macro_f1(counts),
            "decoys_flagged": decoys_flagged([d for d in decoys if d[0] in files], predictions),
            "decoys": sum(d[0] in files for d in set(decoys)), "mb_per_s": run.mb_per_s}


def _verdicts(ours_sample: dict[str, Any] | str, pres: dict[str, Any] | str, ours_all: dict[str, Any] | str,
              speed: Run | str, backup: dict[str, float] | str | None) -> dict[str, tuple[bool | None, str]]:
    """Each bar: (met, None when it could not be measured; why)."""
    out: dict[str, tuple[bool | None, str]] = {}
    if isinstance(ours_sample, str) or isinstance(pres, str):
        out["f1_vs_presidio"] = (None, ours_sample if isinstance(ours_sample, str) else str(pres))
    else:
        both = sorted(ours_sample["detects"] & pres["detects"])
        ours_f1, their_f1 = ({c: r["counts"][c].f1 for c in both} for r in (ours_sample, pres))
        worse = [f"{c} ({ours_f1[c]:.4f} < {their_f1[c]:.4f})" for c in both if ours_f1[c] < their_f1[c]]
        out["f1_vs_presidio"] = (not worse, f"worse on {', '.join(worse)}" if worse else
                                 f"{len(both)} categories: {', '.join(both)}")
    if isinstance(ours_all, str):
        out["checksum_f1"] = (None, ours_all)
    else:
        out["checksum_f1"] = (ours_all["checksum_macro_f1"] >= 0.95, f"{ours_all['checksum_macro_f1']:.3f}")
    out["throughput"] = (None, speed) if isinstance(speed, str) else \
        (speed.mb_per_s >= 10, f"{speed.mb_per_s:.1f} MB/s")
    if backup is not None:
        out["backup"] = (None, backup) if isinstance(backup, str) else \
            (backup["ratio"] <= 1.5, f"{backup['ratio']:.2f}×")
    return out


def _cells(result: dict[str, Any] | str, category: str) -> str:
    if isinstance(result, str) or category not in result["counts"]:
        return "| – | – | – "
    c: Counts = result["counts"][category]
    return f"| {c.precision:.3f} | {c.recall:.3f} | {c.f1:.3f} "


def _print(report: dict[str, Any], label_counts: dict[str, int]) -> None:
    ours_sample, pres, ours_all = report["ours_sample"], report["presidio_sample"], report["ours_corpus"]
    print(f"corpus: {report['corpus_files']} files, {report['corpus_bytes'] / 1e6:.1f} MB (seed {report['seed']}); "
          f"sample: the first {report['sample_files']} files, {report['sample_bytes'] / 1e6:.1f} MB")
    for name, r in (("ours", ours_sample), ("Presidio", pres)):
        if isinstance(r, str):
            print(f"{name}: not scored: {r}")
    print()
    print("| category | labels (sample) | ours P | ours R | ours F1 | Presidio P | Presidio R | Presidio F1 "
          "| both detect | ours F1 (corpus) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for category in CATEGORIES:
        both = not isinstance(ours_sample, str) and not isinstance(pres, str) and \
            category in ours_sample["detects"] & pres["detects"]
        whole = "–" if isinstance(ours_all, str) or category not in ours_all["counts"] else \
            f"{ours_all['counts'][category].f1:.3f}"
        print(f"| {category} | {label_counts.get(category, 0)} {_cells(ours_sample, category)}{_cells(pres, category)}"
              f"| {'✓' if both else ''} | {whole} |")
    print()
    print("both detect: each reported the category at least once on the sample. Presidio has no notion of a birth "
          "date (every DATE_TIME counts as one), no PERSON or LOCATION without an NLP model, and no recognizer for "
          "French NIRs; special:* is scored per file.")
    print()
    for key, title in (("micro_f1", "micro F1"), ("macro_f1", "macro F1"), ("checksum_macro_f1", "checksum macro F1")):
        cells = [f"{r[key]:.3f}" if not isinstance(r, str) else "–" for r in (ours_sample, pres, ours_all)]
        print(f"{title}: ours {cells[0]}   Presidio {cells[1]}   (ours on the whole corpus {cells[2]})")
    flagged = [f"{r['decoys_flagged']}/{r['decoys']}" if not isinstance(r, str) else "–"
               for r in (ours_sample, pres, ours_all)]
    print(f"decoys reported: ours {flagged[0]}   Presidio {flagged[1]}   (ours on the whole corpus {flagged[2]})")
    speeds = [f"{r['mb_per_s']:.1f} MB/s" if not isinstance(r, str) else "–" for r in (ours_all, pres)]
    engine = report["analyzer_mb_per_s"]
    engine = engine if isinstance(engine, str) else f"{engine:.1f} MB/s"
    print(f"throughput: gdpr analyzer as the engine runs it (one core) {engine}; "
          f"find() on the corpus {speeds[0]}; Presidio on the sample {speeds[1]}")
    backup = report.get("backup")
    if isinstance(backup, dict):
        print(f"backup (best of {report['repeat']}): {backup['plain']:.2f} s, with --analyze gdpr,email "
              f"{backup['analyze']:.2f} s: {backup['ratio']:.2f}×")
    print()
    for key, (met, why) in report["verdicts"].items():
        word = "n/a " if met is None else ("PASS" if met else "FAIL")
        print(f"{word} ({key}) {BARS[key]}: {why}")


def _plain(value: Any) -> Any:
    """The report as JSON can hold it."""
    if isinstance(value, Counts):
        return {"tp": value.tp, "fp": value.fp, "fn": value.fn, "precision": value.precision,
                "recall": value.recall, "f1": value.f1}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set | tuple | list):
        return [_plain(v) for v in (sorted(value) if isinstance(value, set) else value)]
    return value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=20.0)
    ap.add_argument("--sample-mb", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "kloset-pii-bench")
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--backup", action="store_true", help="also time kloset backup with and without analysis")
    ap.add_argument("--repeat", type=int, default=3, help="backups of each kind, the best one counting")
    a = ap.parse_args()
    files = ensure(a.work, a.size_mb, a.seed)
    labels = read_labels(a.work)
    with open(a.work / "decoys.jsonl") as f:
        decoys = [(row["file"], row["value"]) for row in map(json.loads, f)]
    regions = {f.file: f.locale[3:] for f in files}
    sample = _sample(files, a.sample_mb)
    corpus = list(read_corpus(a.work, files))
    in_sample = [c for c in corpus if c[0].file in sample]
    mine = ours(corpus)
    theirs: Run | str = "not run (--no-presidio)" if a.no_presidio else presidio(in_sample)
    speed = throughput(corpus)
    backup = backup_ratio(a.work / "corpus", a.repeat) if a.backup else None
    report: dict[str, Any] = {
        "seed": a.seed, "corpus_files": len(files), "corpus_bytes": sum(f.bytes for f in files),
        "sample_files": len(sample), "sample_bytes": sum(f.bytes for f in files if f.file in sample),
        "ours_sample": _scored(mine, labels, regions, sample, decoys),
        "presidio_sample": _scored(theirs, labels, regions, sample, decoys),
        "ours_corpus": _scored(mine, labels, regions, {f.file for f in files}, decoys),
        "analyzer_mb_per_s": speed if isinstance(speed, str) else speed.mb_per_s, "backup": backup, "repeat": a.repeat}
    report["verdicts"] = _verdicts(report["ours_sample"], report["presidio_sample"], report["ours_corpus"], speed,
                                   backup)
    if a.json:
        json.dump(_plain(report), sys.stdout, indent=2)
        print()
    else:
        label_counts: dict[str, int] = {}
        for label in labels:
            if label.file in sample:
                label_counts[label.category] = label_counts.get(label.category, 0) + 1
        _print(report, label_counts)


if __name__ == "__main__":
    main()
