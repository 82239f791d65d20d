#!/usr/bin/env python3
"""A labelled corpus of personal data, and of look-alikes that are not, for scoring PII detectors.

    python tests/bench/pii_corpus.py DIR [--size-mb 20] [--seed 1]

Writes ``DIR/corpus/`` (letters, CSV exports, JSON and JSON Lines records, logs, e-mail messages,
documents without personal data, and documents of decoys), ``DIR/labels.jsonl`` (one row per file,
category and value planted), ``DIR/decoys.jsonl`` (the look-alikes planted, which are not personal
data) and ``DIR/files.jsonl`` (each file's kind and locale, in the order written). The same seed gives
the same bytes. Every checksummed identifier planted passes python-stdnum, every decoy fails it, and
the text around them is checked so that no identifier is planted by accident.
"""

from __future__ import annotations

import argparse
import csv
import io
import ipaddress
import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

import phonenumbers
from faker import Faker
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.iso7064 import mod_11_10
from stdnum.it import codicefiscale
from stdnum.us import ssn

LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "it_IT", "nl_NL")
SPECIAL = ("special:health", "special:religion", "special:politics", "special:union", "special:ethnicity",
           "special:sexual_orientation")
CHECKSUM_CATEGORIES = ("credit_card", "iban", "us_ssn", "uk_nino", "fr_nir", "de_tax_id", "es_dni", "it_fiscal_code")
CATEGORIES = ("email", "phone", *CHECKSUM_CATEGORIES, "ipv4", "ipv6", "date_of_birth", "person", "postal_address",
              *SPECIAL)
#: Bumped whenever the same seed would give other bytes, so that a cached corpus is not reused.
VERSION = 7


def _nino_valid(value: str) -> bool:
    """HMRC's rules: no D F I Q U V, no O second, none of the prefixes never issued, suffix A to D."""
    v = value.replace(" ", "").upper()
    return (re.fullmatch(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]", v) is not None
            and v[:2] not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"})


#: How each checksum category is validated; a label is planted only if its own passes and no other does.
VALIDATORS: dict[str, Callable[[str], bool]] = {
    "credit_card": lambda v: 13 <= len(re.sub(r"\D", "", v)) <= 19 and luhn.is_valid(re.sub(r"\D", "", v)),
    "iban": lambda v: std_iban.is_valid(v),
    "us_ssn": lambda v: ssn.is_valid(v),
    "uk_nino": _nino_valid,
    "fr_nir": lambda v: nir.is_valid(v),
    "de_tax_id": lambda v: idnr.is_valid(v),
    "es_dni": lambda v: dni.is_valid(v) or nie.is_valid(v),
    "it_fiscal_code": lambda v: codicefiscale.is_valid(v),
}


def issued_card(number: str) -> bool:
    """Luhn-valid, of a length its issuer uses today, in an issuer range in use today. Faker also makes
    12-digit Maestro, 13-digit Visa and 15-digit JCB numbers, and JCB numbers outside JCB's range: those
    are not planted, as no card carries them now."""
    n, head2, head3, head4 = len(number), int(number[:2]), int(number[:3]), int(number[:4])
    if not luhn.is_valid(number):
        return False
    if number[0] == "4":
        return n in (16, 19)
    if 51 <= head2 <= 55 or 2221 <= head4 <= 2720:
        return n == 16
    if head2 in (34, 37):
        return n == 15
    if number.startswith("6011") or 644 <= head3 <= 649 or head2 == 65:
        return 16 <= n <= 19
    if 3528 <= head4 <= 3589:
        return 16 <= n <= 19
    if 300 <= head3 <= 305 or head2 in (36, 38, 39):
        return 14 <= n <= 19
    return head2 in (50, 56, 57, 58, 63, 67) and 16 <= n <= 19  # Maestro


def passes_any(value: str, but: str = "") -> bool:
    return any(valid(value) for category, valid in VALIDATORS.items() if category != but)


_DIGIT_RUN = re.compile(r"(?<![\d-])\d(?:[ -]?\d){8,18}(?![\d-])")
_DOTTED_QUAD = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


def accidental(text: str) -> bool:
    """Whether text meant to hold no identifier holds one anyway: a digit run that passes a checksum,
    or a dotted quad that is a public address."""
    if any(passes_any(m.group()) for m in _DIGIT_RUN.finditer(text)):
        return True
    for m in _DOTTED_QUAD.finditer(text):
        try:
            if ipaddress.ip_address(m.group()).is_global:
                return True
        except ValueError:
            pass
    return False


@dataclass(frozen=True)
class Label:
    file: str
    category: str
    value: str


# ---- phrases, by language -------------------------------------------------------------------------

GREETING = {"en": "Dear {},", "fr": "Bonjour {},", "de": "Hallo {},", "es": "Estimado/a {}:", "it": "Gentile {},",
            "nl": "Beste {},"}
CLOSING = {"en": "Kind regards,", "fr": "Cordialement,", "de": "Mit freundlichen Grüßen", "es": "Atentamente,",
           "it": "Cordiali saluti,", "nl": "Met vriendelijke groet,"}
BODY = {
    "en": ["I am writing about the renewal of my contract, which ends next month.",
           "Could you please update the details you hold about me?", "Thank you for your quick reply last week."],
    "fr": ["Je vous écris au sujet du renouvellement de mon contrat.",
           "Pourriez-vous mettre à jour les informations me concernant ?", "Merci pour votre réponse rapide."],
    "de": ["Ich schreibe Ihnen wegen der Verlängerung meines Vertrags.",
           "Bitte aktualisieren Sie meine Angaben in Ihren Unterlagen.", "Vielen Dank für Ihre schnelle Antwort."],
    "es": ["Le escribo en relación con la renovación de mi contrato.",
           "¿Podrían actualizar los datos que tienen sobre mí?", "Gracias por su rápida respuesta."],
    "it": ["Le scrivo in merito al rinnovo del mio contratto.",
           "Potreste aggiornare i dati che avete su di me?", "Grazie per la rapida risposta."],
    "nl": ["Ik schrijf u over de verlenging van mijn contract.",
           "Kunt u mijn gegevens in uw administratie bijwerken?", "Bedankt voor uw snelle antwoord."],
}
BIRTH = {"en": ["I was born on {}.", "Date of birth: {}", "DOB: {}"],
         "fr": ["Je suis né le {}.", "Née le {}.", "Date de naissance : {}"],
         "de": ["Ich bin am {} geboren.", "Geburtsdatum: {}", "geb. am {}"],
         "es": ["Nací el {}.", "Fecha de nacimiento: {}"], "it": ["Sono nato il {}.", "Data di nascita: {}"],
         "nl": ["Ik ben geboren op {}.", "Geboortedatum: {}"]}
#: Dates in letters that are not of a birth.
OTHER_DATE = {"en": ["Your invoice dated {} is attached.", "We met on {} at your office."],
              "fr": ["Votre facture du {} est jointe.", "Nous nous sommes vus le {}."],
              "de": ["Ihre Rechnung vom {} liegt bei.", "Wir haben uns am {} getroffen."],
              "es": ["Adjunto su factura del {}.", "Nos vimos el {}."], "it": ["Allego la fattura del {}.",
                                                                            "Ci siamo visti il {}."],
              "nl": ["Uw factuur van {} is bijgevoegd.", "We spraken elkaar op {}."]}
CONTACT = {"en": ("Phone: {}", "E-mail: {}"), "fr": ("Tél. : {}", "Courriel : {}"), "de": ("Telefon: {}", "E-Mail: {}"),
           "es": ("Teléfono: {}", "Correo: {}"), "it": ("Tel.: {}", "E-mail: {}"), "nl": ("Telefoon: {}", "E-mail: {}")}
PAY = {"en": ["Please refund the amount to my account {}.", "IBAN: {}"],
       "fr": ["Merci de me rembourser sur le compte {}.", "IBAN : {}"],
       "de": ["Bitte überweisen Sie den Betrag auf mein Konto {}.", "IBAN: {}"],
       "es": ["Por favor, reembolsen el importe en la cuenta {}.", "IBAN: {}"],
       "it": ["Vi prego di rimborsare l'importo sul conto {}.", "IBAN: {}"],
       "nl": ["Graag het bedrag terugstorten op rekening {}.", "IBAN: {}"]}
CARD = {"en": "The payment was made with my card {}.", "fr": "J'ai payé avec ma carte {}.",
        "de": "Ich habe mit meiner Karte {} bezahlt.", "es": "Pagué con mi tarjeta {}.",
        "it": "Ho pagato con la mia carta {}.", "nl": "Ik heb betaald met mijn kaart {}."}
NATIONAL = {"us_ssn": "My Social Security number is {}.", "uk_nino": "My National Insurance number is {}.",
            "fr_nir": "Mon numéro de sécurité sociale : {}", "de_tax_id": "Meine Steuer-ID lautet {}.",
            "es_dni": "Mi DNI es {}.", "it_fiscal_code": "Il mio codice fiscale è {}."}
#: Hints of a special category (GDPR Art. 9), by category and language.
HINT = {
    "special:health": {"en": "I have been treated for type 2 diabetes since last spring.",
                       "fr": "Je suis soigné pour un diabète de type 2 depuis le printemps.",
                       "de": "Ich bin seit dem Frühjahr wegen Diabetes in Behandlung.",
                       "es": "Estoy en tratamiento por una depresión desde la primavera.",
                       "it": "Sono in cura per l'asma dalla primavera scorsa.",
                       "nl": "Ik word sinds het voorjaar behandeld voor epilepsie."},
    "special:religion": {"en": "As a practising Muslim I cannot attend on Friday afternoons.",
                         "fr": "En tant que catholique pratiquant, je ne suis pas disponible le dimanche matin.",
                         "de": "Als gläubiger Jude bin ich am Sabbat nicht erreichbar.",
                         "es": "Como católica practicante no puedo acudir el domingo.",
                         "it": "Essendo cattolico praticante, la domenica non sono disponibile.",
                         "nl": "Als praktiserend moslim ben ik vrijdagmiddag niet beschikbaar."},
    "special:politics": {"en": "I am a member of the Labour Party and canvass on weekends.",
                         "fr": "Je suis adhérent du Parti socialiste depuis dix ans.",
                         "de": "Ich bin seit Jahren Mitglied der SPD.", "es": "Estoy afiliado al PSOE desde 2010.",
                         "it": "Sono iscritto al Partito Democratico.", "nl": "Ik ben lid van de PvdA."},
    "special:union": {"en": "As a member of the Unite trade union I would like a representative present.",
                      "fr": "Je suis syndiqué à la CGT et souhaite la présence d'un délégué.",
                      "de": "Als Mitglied der Gewerkschaft ver.di bitte ich um einen Betriebsrat.",
                      "es": "Estoy afiliado al sindicato CCOO.", "it": "Sono iscritto al sindacato CGIL.",
                      "nl": "Ik ben lid van vakbond FNV."},
    "special:ethnicity": {"en": "As a woman of Roma origin I have faced this before.",
                          "fr": "D'origine maghrébine, j'ai déjà vécu cette situation.",
                          "de": "Als Sinto habe ich das schon öfter erlebt.",
                          "es": "Como persona de etnia gitana, ya he vivido esto.",
                          "it": "Essendo di origine rom, mi è già successo.",
                          "nl": "Als Marokkaanse Nederlander heb ik dit eerder meegemaakt."},
    "special:sexual_orientation": {"en": "My husband and I, as a gay couple, want both our names on the policy.",
                                   "fr": "En tant que lesbienne, je souhaite que ma compagne soit co-titulaire.",
                                   "de": "Als schwuler Mann möchte ich meinen Partner eintragen lassen.",
                                   "es": "Como mujer lesbiana, quiero incluir a mi esposa en la póliza.",
                                   "it": "Come uomo gay, vorrei aggiungere mio marito alla polizza.",
                                   "nl": "Als homoseksuele man wil ik mijn man toevoegen."},
}
NATIONAL_OF = {"en_US": "us_ssn", "en_GB": "uk_nino", "fr_FR": "fr_nir", "de_DE": "de_tax_id", "es_ES": "es_dni",
               "it_IT": "it_fiscal_code"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
USER_AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
               "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15",
               "curl/8.4.0", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.6099.109"]


# ---- values, valid and not ------------------------------------------------------------------------

class Person:
    """Values of one locale, drawn from a seeded Faker and a seeded random source, each checked."""

    def __init__(self, locale: str, seed: int, rng: random.Random) -> None:
        self.locale, self.lang, self.region = locale, locale[:2], locale[3:]
        self.fake = Faker(locale)
        self.fake.seed_instance(seed)
        self.rng = rng

    def name(self) -> str:
        return f"{self.fake.first_name()} {self.fake.last_name()}"

    def address(self) -> str:
        return str(self.fake.address())

    def email(self) -> str:
        return str(self.fake.email())

    def phone(self) -> str:
        """A number phonenumbers holds valid for the locale's region (Faker's often are not)."""
        while True:
            value = str(self.fake.phone_number())
            try:
                valid = phonenumbers.is_valid_number(phonenumbers.parse(value, self.region))
            except phonenumbers.NumberParseException:
                valid = False
            if valid and not passes_any(value):
                return value

    def birth_date(self) -> date:
        return date(1940, 1, 1) + timedelta(days=self.rng.randrange(365 * 65))

    def written_date(self, d: date) -> str:
        """A date as people of the locale write it."""
        if self.rng.random() < 0.3 and self.lang == "en":
            return f"{MONTHS[d.month - 1]} {d.day}, {d.year}" if self.region == "US" else \
                f"{d.day} {MONTHS[d.month - 1]} {d.year}"
        sep = {"de": ".", "nl": "-"}.get(self.lang, "/")
        first, second = (d.month, d.day) if self.region == "US" else (d.day, d.month)
        return f"{first:02d}{sep}{second:02d}{sep}{d.year}"

    def iban(self) -> str:
        while True:
            value = str(self.fake.iban())
            if std_iban.is_valid(value) and not passes_any(value, but="iban"):
                return " ".join(value[i:i + 4] for i in range(0, len(value), 4)) if self.rng.random() < 0.6 \
                    else value

    def card(self) -> str:
        while True:
            number = str(self.fake.credit_card_number())
            if issued_card(number) and not passes_any(number, but="credit_card"):
                break
        style = self.rng.random()
        if style < 0.4:
            return number
        groups = {13: (4, 3, 3, 3), 14: (4, 6, 4), 15: (4, 6, 5), 19: (4, 4, 4, 4, 3)}.get(len(number), (4, 4, 4, 4))
        parts, i = [], 0
        for g in groups:
            parts.append(number[i:i + g])
            i += g
        return (" " if style < 0.8 else "-").join(parts)

    def national_id(self) -> tuple[str, str] | None:
        """This locale's national identifier, as it is written, or None where it has none we score."""
        category = NATIONAL_OF.get(self.locale)
        if category is None:
            return None
        while True:
            value = self._national(category)
            if VALIDATORS[category](value) and not passes_any(value, but=category):
                return category, value

    def _national(self, category: str) -> str:
        r = self.rng
        if category == "us_ssn":
            area = r.choice([a for a in range(1, 900) if a != 666])
            sep = "-" if r.random() < 0.85 else " "
            return f"{area:03d}{sep}{r.randrange(1, 100):02d}{sep}{r.randrange(1, 10000):04d}"
        if category == "uk_nino":
            first = r.choice("ABCEGHJKLMNOPRSTWXYZ") + r.choice("ABCEGHJKLMNPRSTWXYZ")
            digits = f"{r.randrange(10**6):06d}"
            if r.random() < 0.5:
                return f"{first} {digits[:2]} {digits[2:4]} {digits[4:]} {r.choice('ABCD')}"
            return f"{first}{digits}{r.choice('ABCD')}"
        if category == "fr_nir":
            dept = r.choice([f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B"])
            body = (f"{r.choice('12')}{r.randrange(100):02d}{r.randrange(1, 13):02d}{dept}"
                    f"{r.randrange(1, 991):03d}{r.randrange(1, 1000):03d}")
            value = body + nir.calc_check_digits(body)
            if r.random() < 0.5:
                return " ".join((value[0], value[1:3], value[3:5], value[5:7], value[7:10], value[10:13], value[13:]))
            return value
        if category == "de_tax_id":
            # Ten digits in which exactly one appears twice, and not a leading zero.
            figures = r.sample(string.digits, 9)
            figures.insert(r.randrange(1, 10), r.choice(figures[1:]))
            if figures[0] == "0":
                figures[0], figures[5] = figures[5], figures[0]
            body = "".join(figures)
            value = body + mod_11_10.calc_check_digit(body)
            return idnr.format(value) if r.random() < 0.4 else value
        if category == "es_dni":
            if r.random() < 0.2:
                body = r.choice("XYZ") + f"{r.randrange(10**7):07d}"
                return body + nie.calc_check_digit(body)
            body = f"{r.randrange(10**8):08d}"
            return body + ("-" if r.random() < 0.2 else "") + dni.calc_check_digit(body)
        day = r.randrange(1, 29) + r.choice((0, 40))  # women's days are 40 more
        body = ("".join(r.choice(string.ascii_uppercase) for _ in range(6)) + f"{r.randrange(100):02d}"
                + r.choice("ABCDEHLMPRST") + f"{day:02d}" + r.choice("ABCDEFGHILM") + f"{r.randrange(1, 1000):03d}")
        return body + codicefiscale.calc_check_digit(body)

    def ipv4(self) -> str:
        while True:
            value = str(self.fake.ipv4_public())
            if ipaddress.ip_address(value).is_global:
                return value

    def ipv6(self) -> str:
        while True:
            groups = [self.rng.randrange(0x2000, 0x3000)] + [self.rng.randrange(0x10000) for _ in range(7)]
            for i in self.rng.sample(range(3, 8), self.rng.randrange(4)):
                groups[i] = 0
            address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
            if address.is_global:
                return str(address)

    def special(self) -> tuple[str, str]:
        category = self.rng.choice(SPECIAL)
        return category, HINT[category][self.lang]

    def decoy(self) -> tuple[str, str]:
        """A look-alike of an identifier that fails its check: (kind, value as written)."""
        while True:
            kind, value = self._decoy()
            if not passes_any(value) and not _valid_ip(value) and not (kind == "digits" and _phone_anywhere(value)):
                return kind, value

    def _decoy(self) -> tuple[str, str]:
        r = self.rng
        kind = r.choice(["credit_card", "iban", "us_ssn", "uk_nino", "fr_nir", "de_tax_id", "es_dni",
                         "it_fiscal_code", "digits", "ipv4"])
        if kind == "credit_card":
            number = str(self.fake.credit_card_number())
            return kind, number[:-1] + str((int(number[-1]) + r.randrange(1, 10)) % 10)
        if kind == "iban":
            value = str(self.fake.iban())
            return kind, value[:2] + f"{(int(value[2:4]) + r.randrange(1, 97)) % 97 + 2:02d}"[-2:] + value[4:]
        if kind == "us_ssn":
            area = r.choice(["000", "666", f"9{r.randrange(100):02d}"])
            return kind, f"{area}-{r.randrange(1, 100):02d}-{r.randrange(1, 10000):04d}"
        if kind == "uk_nino":
            digits = f"{r.randrange(10**6):06d}"
            prefix = r.choice(["GB", "ZZ", "TN", "DA", "QQ"])  # never issued, or with a letter never used
            return kind, f"{prefix} {digits[:2]} {digits[2:4]} {digits[4:]} {r.choice('ABCD')}"
        if kind == "digits":
            return kind, "".join(r.choice(string.digits) for _ in range(r.randrange(9, 20)))
        if kind == "ipv4":
            return kind, ".".join(str(r.randrange(256, 1000) if i == r.randrange(4) else r.randrange(256))
                                  for i in range(4))
        value = self._national(kind).replace(" ", "")
        last = value[-1]
        wrong = r.choice([c for c in (string.digits if last.isdigit() else string.ascii_uppercase) if c != last])
        return kind, value[:-1] + wrong


def _phone_anywhere(value: str) -> bool:
    """Whether a digit run would be a valid phone number in one of the corpus's countries: it is then no decoy."""
    for locale in LOCALES:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(value, locale[3:])):
                return True
        except phonenumbers.NumberParseException:
            pass
    return False


def _valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# ---- documents ------------------------------------------------------------------------------------

@dataclass
class Planted:
    """What one document holds: labels (category, value) in order, without repeats, and decoys."""

    labels: dict[tuple[str, str], None] = field(default_factory=dict)
    decoys: list[tuple[str, str]] = field(default_factory=list)

    def add(self, category: str, value: str) -> str:
        self.labels[(category, " ".join(value.split()) if category == "postal_address" else value)] = None
        return value

    def decoy(self, p: Person) -> str:
        kind, value = p.decoy()
        self.decoys.append((kind, value))
        return value


def _recent(p: Person) -> date:
    return date(2019, 1, 1) + timedelta(days=p.rng.randrange(6 * 365))


def _id_lines(p: Person, planted: Planted) -> list[str]:
    """The sentences of a message that carry identifiers, a date of birth or a special category, each by chance."""
    r, lang, out = p.rng, p.lang, []
    if r.random() < 0.5:
        born = p.birth_date()
        planted.add("date_of_birth", born.isoformat())
        out.append(r.choice(BIRTH[lang]).format(p.written_date(born)))
    if r.random() < 0.4 and (national := p.national_id()):
        out.append(NATIONAL[national[0]].format(planted.add(*national)))
    if r.random() < 0.3:
        out.append(r.choice(PAY[lang]).format(planted.add("iban", p.iban())))
    if r.random() < 0.15:
        out.append(CARD[lang].format(planted.add("credit_card", p.card())))
    if r.random() < 0.4:
        out.append(r.choice(OTHER_DATE[lang]).format(p.written_date(_recent(p))))
    if r.random() < 0.4:
        category, hint = p.special()
        planted.add(category, hint)
        out.append(hint)
    if r.random() < 0.1:
        out.append(f"Ref. {planted.decoy(p)}")
    r.shuffle(out)
    return out


def letter(p: Person, planted: Planted) -> tuple[str, str]:
    r, lang = p.rng, p.lang
    sender, recipient, address = p.name(), p.name(), p.address()
    lines = [planted.add("person", sender), *planted.add("postal_address", address).splitlines()]
    phone_label, email_label = CONTACT[lang]
    if r.random() < 0.7:
        lines.append(phone_label.format(planted.add("phone", p.phone())))
    if r.random() < 0.7:
        lines.append(email_label.format(planted.add("email", p.email())))
    lines += ["", p.written_date(_recent(p)), "", GREETING[lang].format(planted.add("person", recipient)), ""]
    body = r.sample(BODY[lang], r.randrange(1, 4)) + _id_lines(p, planted)
    lines += [" ".join(body[i:i + 2]) for i in range(0, len(body), 2)]
    lines += ["", CLOSING[lang], sender, ""]
    return "\n".join(lines), "txt"


_HEADERS = [("name", "email", "phone", "address", "birthdate", "iban", "card", "national_id"),
            ("full_name", "e-mail", "phone_number", "street_address", "dob", "IBAN", "card_number", "id_number"),
            ("Customer", "Email", "Telephone", "Address", "Date of birth", "Bank account", "Card", "National ID")]


def _customer(p: Person, planted: Planted, one_line_address: bool) -> list[str]:
    """One customer's fields, in the order of _HEADERS, some left empty as exports have them."""
    r = p.rng
    empty = set(r.sample(range(1, 8), r.choice((0, 0, 1, 2))))
    address, born = p.address(), p.birth_date()
    fields = [("person", p.name()), ("email", p.email()), ("phone", p.phone()), ("postal_address", address),
              ("date_of_birth", born.isoformat()), ("iban", p.iban()), ("credit_card", p.card()), p.national_id()]
    row = []
    for i, item in enumerate(fields):
        if item is None or i in empty:
            row.append("")
            continue
        value = planted.add(*item)
        if i == 3 and one_line_address:
            value = ", ".join(address.splitlines())
        elif i == 4 and r.random() < 0.5:
            value = p.written_date(born)
        row.append(value)
    return row


def _csv(p: Person, planted: Planted, rows: int) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    one_line = p.rng.random() < 0.6
    w.writerow(p.rng.choice(_HEADERS))
    for _ in range(rows):
        w.writerow(_customer(p, planted, one_line))
    return out.getvalue()


def customers(p: Person, planted: Planted) -> tuple[str, str]:
    return _csv(p, planted, p.rng.randrange(30, 200)), "csv"


def records(p: Person, planted: Planted) -> tuple[str, str]:
    r, out = p.rng, []
    for n in range(r.randrange(10, 60)):
        name, email, phone, address, birthdate, account, card, national = _customer(p, planted, True)
        record: dict[str, object] = {"id": 10_000 + n, "name": name, "contact": {"email": email, "phone": phone},
                                     "address": address, "date_of_birth": birthdate, "iban": account}
        if card:
            record["payment"] = {"card": card, "expires": f"{r.randrange(1, 13):02d}/{r.randrange(25, 31)}"}
        if national:
            record["national_id"] = national
        record["orders"] = [{"placed": _recent(p).isoformat(), "total": round(r.uniform(5, 500), 2)}
                            for _ in range(r.randrange(3))]
        out.append(record)
    return json.dumps(out, ensure_ascii=r.random() < 0.2, indent=2), "json"


def _hex(r: random.Random, digits: int) -> str:
    """A hex token (a hash, a session key) with no run of seven decimal digits: a longer run might pass a
    checksum and be taken for an identifier that was not planted."""
    while True:
        token = f"{r.getrandbits(4 * digits):0{digits}x}"
        if not re.search(r"\d{7}", token):
            return token


def _timestamp(p: Person) -> str:
    return f"{_recent(p).isoformat()}T{p.rng.randrange(24):02d}:{p.rng.randrange(60):02d}:{p.rng.randrange(60):02d}Z"


def events(p: Person, planted: Planted) -> tuple[str, str]:
    r, lines = p.rng, []
    for _ in range(r.randrange(50, 300)):
        ip = planted.add("ipv4", p.ipv4()) if r.random() < 0.7 else planted.add("ipv6", p.ipv6())
        event: dict[str, object] = {"ts": _timestamp(p), "event": r.choice(["login", "logout", "signup", "purchase"]),
                                    "user_id": r.randrange(1, 10**6), "ip": ip}
        if r.random() < 0.6:
            event["email"] = planted.add("email", p.email())
        if r.random() < 0.2:
            event["name"] = planted.add("person", p.name())
        lines.append(json.dumps(event, ensure_ascii=False))
    return "\n".join(lines) + "\n", "jsonl"


def log(p: Person, planted: Planted) -> tuple[str, str]:
    r, lines = p.rng, []
    for _ in range(r.randrange(100, 600)):
        ts, shape = _timestamp(p), r.random()
        if shape < 0.35:
            ip = planted.add("ipv4", p.ipv4()) if r.random() < 0.8 else planted.add("ipv6", p.ipv6())
            lines.append(f'{ip} - - [{ts}] "GET /account/{r.randrange(10**5)} HTTP/1.1" {r.choice([200, 304, 404])} '
                         f'{r.randrange(100, 90000)} "-" "{r.choice(USER_AGENTS)}"')
        elif shape < 0.6:
            ip = planted.add("ipv4", p.ipv4()) if r.random() < 0.7 else planted.add("ipv6", p.ipv6())
            lines.append(f"{ts} INFO auth: login succeeded user_id={r.randrange(10**6)} "
                         f"email={planted.add('email', p.email())} ip={ip}")
        elif shape < 0.7:
            lines.append(f"{ts} WARNING auth: password reset requested for {planted.add('email', p.email())} "
                         f"from {planted.add('ipv6', p.ipv6())}")
        else:
            lines.append(f"{ts} DEBUG cache: hit key=session:{_hex(r, 16)} took {r.randrange(1, 90)}ms")
    return "\n".join(lines) + "\n", "log"


def message(p: Person, planted: Planted) -> tuple[str, str]:
    r, lang = p.rng, p.lang
    msg = EmailMessage()
    sender, to = (p.name(), p.email()), [(p.name(), p.email()) for _ in range(r.randrange(1, 3))]
    cc = [(p.name(), p.email()) for _ in range(r.choice((0, 0, 1, 2)))]
    for name, address in [sender, *to, *cc]:
        planted.add("person", name)
        planted.add("email", address)
    msg["From"] = formataddr(sender)
    msg["To"] = ", ".join(formataddr(a) for a in to)
    if cc:
        msg["Cc"] = ", ".join(formataddr(a) for a in cc)
    msg["Subject"] = r.choice(BODY[lang])[:40]
    msg["Date"] = format_datetime(datetime_of(_recent(p)))
    msg["Message-ID"] = f"<{_hex(r, 12)}.{_hex(r, 8)}@mail.example.net>"
    body = [GREETING[lang].format(to[0][0]), "", *r.sample(BODY[lang], r.randrange(1, 3)), *_id_lines(p, planted),
            "", CLOSING[lang], sender[0], CONTACT[lang][0].format(planted.add("phone", p.phone()))]
    msg.set_content("\n".join(body) + "\n", cte=r.choice(["8bit", "quoted-printable", "base64"]))
    if r.random() < 0.15:
        msg.add_attachment(_csv(p, planted, r.randrange(3, 10)).encode(), maintype="text", subtype="csv",
                           filename="customers.csv")
        msg.set_boundary(f"=={_hex(r, 24)}==")  # else drawn from the unseeded global random source
    return msg.as_string(), "eml"


def datetime_of(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 9, 30, tzinfo=UTC)


_NOUNS = ["cache", "scheduler", "index", "parser", "worker pool", "request queue", "storage layer", "compaction",
          "retry policy", "connection pool", "build", "migration", "replica", "checksum", "buffer"]
_VERBS = ["reduces", "doubles", "bounds", "hides", "amortises", "serialises", "invalidates", "shards", "batches"]
_TAILS = ["under load", "on cold start", "when the disk is full", "across restarts", "for large inputs",
          "without extra locking", "in the common case", "at the cost of memory"]
_CODE = ['def {f}(items: list[int]) -> int:\n    """Sum of the {n} largest."""\n    return sum(sorted(items)[-{k}:])\n',
         "SELECT region, count(*) AS n, avg(latency_ms) FROM requests WHERE status = {k}00 GROUP BY region;\n",
         "{f}:\n  replicas: {k}\n  image: registry.local/{f}:{v}\n  resources: {{cpu: {k}00m, memory: {n}Mi}}\n",
         "for (let i = 0; i < {n}; i++) {{\n  total += weights[i] * {k};\n}}\n"]


def clean(p: Person, planted: Planted) -> tuple[str, str]:
    """Technical prose, code, a numbers table or a changelog: no personal data, many digits and dates."""
    r = p.rng
    shape = r.choice(["prose", "code", "table", "changelog"])
    while True:
        lines: list[str] = []
        for _ in range(r.randrange(40, 200)):
            version = f"{r.randrange(10)}.{r.randrange(30)}.{r.randrange(20)}"
            if shape == "prose":
                lines.append(f"The {r.choice(_NOUNS)} {r.choice(_VERBS)} the {r.choice(_NOUNS)} {r.choice(_TAILS)}"
                             f" (measured on v{version}, {r.randrange(2, 64)} cores, p99 {r.uniform(1, 90):.1f} ms).")
            elif shape == "code":
                lines.append(r.choice(_CODE).format(f=f"step_{r.randrange(100)}", n=r.randrange(2, 4096),
                                                    k=r.randrange(1, 9), v=version))
            elif shape == "table":
                lines.append(",".join([_recent(p).isoformat(), f"{r.uniform(0, 1e4):.2f}", str(r.randrange(10**6)),
                                       f"{r.uniform(-5, 5):.3f}", f"{_hex(r, 32)}"]))
            else:
                lines.append(f"## {version} ({_recent(p).isoformat()})\n- {r.choice(_NOUNS)} {r.choice(_VERBS)} "
                             f"the {r.choice(_NOUNS)} {r.choice(_TAILS)}; build {_hex(r, 10)}")
        text = "\n".join(lines) + "\n"
        if not accidental(text):
            return text, {"prose": "txt", "code": "md", "table": "csv", "changelog": "md"}[shape]


_REJECT_FIELD = {"credit_card": "card_number", "iban": "iban", "us_ssn": "ssn", "uk_nino": "nino",
                 "fr_nir": "nir", "de_tax_id": "steuer_id", "es_dni": "dni", "it_fiscal_code": "codice_fiscale",
                 "digits": "reference", "ipv4": "client_ip"}


def decoys(p: Person, planted: Planted) -> tuple[str, str]:
    """A data-quality report of rejected values: look-alikes whose checks fail, and dates that are not births."""
    r = p.rng
    lines = [f"Import run {_hex(r, 8)}: rejected values", ""]
    for n in range(r.randrange(30, 120)):
        shape = r.random()
        if shape < 0.5:
            value = planted.decoy(p)
            lines.append(f"row {n + 2}: {_REJECT_FIELD[planted.decoys[-1][0]]} {value} failed validation")
        elif shape < 0.8:
            lines.append(f"row {n + 2}: reference {planted.decoy(p)} not found in ledger")
        else:
            lines.append(f"row {n + 2}: processed on {p.written_date(_recent(p))}, batch {r.randrange(10**5)}")
    return "\n".join(lines) + "\n", "txt"


KINDS: dict[str, tuple[Callable[[Person, Planted], tuple[str, str]], int]] = {
    "letter": (letter, 3), "customers": (customers, 2), "records": (records, 1), "events": (events, 1),
    "log": (log, 1), "message": (message, 2), "clean": (clean, 2), "decoys": (decoys, 1)}


def _stray(text: str, planted: Planted) -> bool:
    """Whether the text holds an identifier that was not planted (a session key that is all digits and
    passes Luhn): such a document would make its labels lie, so it is written anew."""
    for value in sorted({v for _, v in planted.labels} | {v for _, v in planted.decoys}, key=len, reverse=True):
        text = text.replace(value, " | ")
    return accidental(text)


@dataclass(frozen=True)
class File:
    file: str
    kind: str
    locale: str
    bytes: int


def generate(directory: str | Path, size_mb: float = 20.0, seed: int = 1) -> list[File]:
    """Write the corpus (see the module's doc) of at least ``size_mb`` MB into ``directory``."""
    root = Path(directory)
    corpus = root / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    people = {locale: Person(locale, seed * 1000 + i, rng) for i, locale in enumerate(LOCALES)}
    kinds, weights = list(KINDS), [w for _, w in KINDS.values()]
    files: list[File] = []
    total, made = 0, dict.fromkeys(KINDS, 0)
    with open(root / "labels.jsonl", "w") as labels, open(root / "decoys.jsonl", "w") as decoy_rows:
        while total < size_mb * 1e6:
            # Each kind goes round the locales, so that even a small corpus has each country's identifiers.
            kind = rng.choices(kinds, weights)[0]
            locale = LOCALES[made[kind] % len(LOCALES)]
            made[kind] += 1
            while True:
                planted = Planted()
                text, ext = KINDS[kind][0](people[locale], planted)
                if not _stray(text, planted):
                    break
            name = f"{len(files):05d}-{kind}-{locale}.{ext}"
            data = text.encode()
            (corpus / name).write_bytes(data)
            total += len(data)
            files.append(File(name, kind, locale, len(data)))
            for category, value in planted.labels:
                labels.write(json.dumps(asdict(Label(name, category, value)), ensure_ascii=False) + "\n")
            for decoy_kind, value in planted.decoys:
                decoy_rows.write(json.dumps({"file": name, "kind": decoy_kind, "value": value}) + "\n")
    with open(root / "files.jsonl", "w") as out:
        out.writelines(json.dumps(asdict(f)) + "\n" for f in files)
    (root / "manifest.json").write_text(json.dumps({"version": VERSION, "size_mb": size_mb, "seed": seed}))
    return files


def ensure(directory: str | Path, size_mb: float = 20.0, seed: int = 1) -> list[File]:
    """The corpus in ``directory``, written unless one of this size, seed and version is already there."""
    root = Path(directory)
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = None
    if manifest == {"version": VERSION, "size_mb": size_mb, "seed": seed}:
        return read_files(root)
    for stale in (root / "corpus").glob("*"):
        stale.unlink()
    return generate(root, size_mb, seed)


def read_files(directory: str | Path) -> list[File]:
    with open(Path(directory) / "files.jsonl") as f:
        return [File(**json.loads(line)) for line in f]


def read_labels(directory: str | Path) -> list[Label]:
    with open(Path(directory) / "labels.jsonl") as f:
        return [Label(**json.loads(line)) for line in f]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("directory")
    ap.add_argument("--size-mb", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    files = generate(a.directory, a.size_mb, a.seed)
    print(f"{len(files)} files, {sum(f.bytes for f in files):,} bytes in {a.directory}/corpus")


if __name__ == "__main__":
    main()
