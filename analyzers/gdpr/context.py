"""Personal data told by its context: dates of birth, and GDPR Art. 9 special-category hints.

A date is a date of birth only near words that say so ("born", "DOB", "né le", "geboren"...) or
under a key that does (a CSV column, a JSON key); any other date is not personal data. Special
categories (health, religion, politics, trade unions, ethnicity, sexual orientation) are hinted at
by multilingual keywords, matched as whole words; a keyword says a text may concern such data, not
that it does, so these findings have a confidence of at most 0.5.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .match import Hit

_MONTHS = ("jan(?:uary|vier|uar|uari)?|feb(?:ruary|ruar|bruari)?|f[ée]vr(?:ier)?|m[aä]r(?:ch|s|z|zo)?|maart|"
           "apr(?:il|ile)?|avr(?:il)?|ma[yi]|mei|maggio|mayo|jun(?:e|i|io)?|juin|giugno|jul(?:y|i|io)?|juil(?:let)?|"
           "luglio|aug(?:ust|ustus)?|ao[uû]t|agosto|sep(?:t|tember|tembre|tiembre)?|settembre|oct(?:ober|obre|ubre)?|"
           "okt(?:ober)?|ottobre|nov(?:ember|embre)?|dec(?:ember)?|d[ée]c(?:embre)?|dez(?:ember)?|dic(?:iembre|embre)?|"
           "ene(?:ro)?|gen(?:naio)?|abr(?:il)?|ago")
DATE = re.compile(
    r"(?<!\d)(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)?\d{2}|(?:19|20)\d{2}[./-]\d{1,2}[./-]\d{1,2}"
    rf"|\d{{1,2}}(?:st|nd|rd|th|er)?\.?\s+(?:de\s+)?(?:{_MONTHS})\.?\s+(?:de\s+)?(?:19|20)\d{{2}}"
    rf"|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+(?:19|20)\d{{2}})(?!\d)", re.IGNORECASE)
_BIRTH_WORDS = ("born", "birth date", "birthdate", "date of birth", "dob", "d.o.b", "birthday", "né le", "née le",
                "ne le", "nee le", "date de naissance", "geboren", "geburtsdatum", "fecha de nacimiento", "nacido el",
                "nacida el", "data di nascita", "nato il", "nata il", "geboortedatum")
#: How far after the words a date may stand ("born in Lyon on 3 May 1980").
_REACH = 40

def _keywords(words: Iterable[str]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Two searches for whole ``words``: one in lower-cased text, one ignoring case.

    The first is several times faster: its alternatives start with a non-word character, which ``re``
    skips to directly; it needs the text lower-cased with a space in front, which only works when
    lower-casing keeps every offset (it does but for a few letters, such as the dotted capital I)."""
    trie = _trie(words)
    return re.compile(rf"\W({trie})(?!\w)"), re.compile(rf"(?<!\w)({trie})(?!\w)", re.IGNORECASE)


def lowered(text: str) -> str | None:
    """``text`` lower-cased behind a space, for the keyword searches; None if offsets would move."""
    lower = text.lower()
    return " " + lower if len(lower) == len(text) else None


def _find(words: tuple[re.Pattern[str], re.Pattern[str]], text: str, lower: str | None) -> Iterator[tuple[int, int]]:
    if lower is not None:
        for m in words[0].finditer(lower):
            yield m.start(1) - 1, m.end(1) - 1
    else:
        for m in words[1].finditer(text):
            yield m.start(1), m.end(1)


def scan_birth_dates(text: str, lower: str | None, out: list[Hit]) -> None:
    """Dates that follow words saying they are a birth date, appended to ``out``."""
    for _, end in _find(_BIRTH, text, lower):
        date = DATE.search(text, end, end + _REACH)
        if date is not None:
            out.append(("date_of_birth", date.group(), date.start(), date.end(), 0.8))


def birth_date_field(value: str, start: int, out: list[Hit]) -> None:
    """A value under a birth-date key, appended to ``out`` if it holds a date."""
    date = DATE.search(value)
    if date is not None:
        out.append(("date_of_birth", date.group(), start + date.start(), start + date.end(), 0.9))


SPECIAL: dict[str, tuple[str, ...]] = {
    "health": ("diagnosis", "diagnosed", "diabetes", "diabetic", "cancer", "chemotherapy", "hiv", "aids", "asthma",
               "depression", "schizophrenia", "bipolar", "epilepsy", "pregnant", "pregnancy", "disability",
               "disabled", "medical record", "prescription", "sick leave", "therapy", "psychiatric", "alzheimer",
               "diagnostic", "maladie", "arrêt maladie", "enceinte", "handicap", "ordonnance", "krankheit",
               "krankmeldung", "diagnose", "schwanger", "behinderung", "enfermedad", "embarazada", "discapacidad",
               "malattia", "diagnosi", "incinta", "disabilità", "ziekte", "zwanger", "ziekteverlof"),
    "religion": ("religion", "religious", "christian", "catholic", "protestant", "muslim", "islam", "jewish",
                 "judaism", "hindu", "buddhist", "atheist", "church", "mosque", "synagogue", "religieux",
                 "catholique", "musulman", "musulmane", "juif", "juive", "église", "religiös", "katholisch",
                 "evangelisch", "jüdisch", "kirche", "moschee", "religión", "católico", "católica", "musulmán",
                 "judío", "iglesia", "religione", "cattolico", "cattolica", "ebreo", "chiesa", "godsdienst",
                 "katholiek", "moslim", "joods", "kerk"),
    "politics": ("political party", "party member", "political opinion", "democrat", "republican", "labour party",
                 "conservative party", "communist", "socialist", "parti politique", "opinion politique",
                 "partei", "parteimitglied", "politische", "partido político", "afiliado",
                 "partito politico", "iscritto al partito", "politieke partij"),
    "union": ("trade union", "labor union", "labour union", "union member", "union membership", "syndicat",
              "syndiqué", "syndiquée", "syndical", "gewerkschaft", "gewerkschaftsmitglied", "sindicato",
              "sindicalista", "afiliación sindical", "sindacato", "iscritto al sindacato", "vakbond", "vakbondslid"),
    "ethnicity": ("ethnicity", "ethnic origin", "racial origin", "ethnic", "origine ethnique", "ethnie",
                  "ethnische herkunft", "abstammung", "origen étnico", "etnia", "origine etnica", "etniciteit",
                  "afkomst"),
    "sexual_orientation": ("sexual orientation", "gay", "lesbian", "bisexual", "homosexual", "heterosexual",
                           "transgender", "lgbt", "lgbtq", "orientation sexuelle", "homosexuel", "homosexuelle",
                           "lesbienne", "sexuelle orientierung", "schwul", "lesbisch", "orientación sexual",
                           "homosexualidad", "orientamento sessuale", "omosessuale", "seksuele geaardheid"),
}


def _trie(words: Iterable[str]) -> str:
    """An alternation of ``words`` sharing prefixes, which ``re`` tries in a fraction of the time."""
    tree: dict[str, dict] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        optional = "" in node
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 and not optional else "(?:" + "|".join(branches) + ")"
        if optional:
            body = (body if body.startswith("(?:") and len(branches) > 1 else f"(?:{body})") + "?"
        return body

    return pattern(tree)


_SPECIAL_CATEGORY = {word: f"special:{category}" for category, words in SPECIAL.items() for word in words}
_SPECIAL = _keywords(_SPECIAL_CATEGORY)
_BIRTH = _keywords(_BIRTH_WORDS)


def scan_special(text: str, lower: str | None, out: list[Hit]) -> None:
    """Art. 9 special-category keywords in ``text``, appended to ``out`` (confidence 0.4)."""
    for start, end in _find(_SPECIAL, text, lower):
        word = text[start:end]
        category = _SPECIAL_CATEGORY.get(word.lower())
        if category is not None:
            out.append((category, word, start, end, 0.4))
