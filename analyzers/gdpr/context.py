"""Personal data told by its context: dates of birth, and GDPR Art. 9 special-category hints.

A date is a date of birth only near words that say so ("born", "DOB", "né le", "geboren"...) or
under a key that does (a CSV column, a JSON key); any other date is not personal data. Special
categories (health, religion, politics, trade unions, ethnicity, sexual orientation) are hinted at
by multilingual keywords, matched as whole words; a keyword says a text may concern such data, not
that it does, so these findings have a confidence of at most 0.5.
"""

from __future__ import annotations

import re

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
BIRTH_WORDS = ("born", "birth date", "birthdate", "date of birth", "dob", "d.o.b", "birthday", "né le", "née le",
                "ne le", "nee le", "date de naissance", "geboren", "geburtsdatum", "fecha de nacimiento", "nacido el",
                "nacida el", "data di nascita", "nato il", "nata il", "geboortedatum")
#: How far after the words a date may stand ("born in Lyon on 3 May 1980").
_REACH = 40

Spans = list[tuple[int, int]]


def words(text: str, spans: Spans) -> list[tuple[int, int]]:
    """Whole words among ``spans`` (keyword matches, each perhaps behind the character before it): at each
    start the longest that a word character does not continue, none inside one taken."""
    out: list[tuple[int, int]] = []
    taken = -1
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if start < len(text) and not text[start].isalnum():
            start += 1
        if start < taken or (end < len(text) and (text[end].isalnum() or text[end] == "_")):
            continue
        out.append((start, end))
        taken = end
    return out


def scan_birth_dates(text: str, spans: Spans, out: list[Hit]) -> None:
    """Dates that follow words saying they are a birth date (found at ``spans``), appended to ``out``."""
    for _, end in words(text, spans):
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


#: Each keyword of :data:`SPECIAL`, lower case, and its category.
SPECIAL_CATEGORY = {word: f"special:{category}" for category, words in SPECIAL.items() for word in words}


def scan_special(text: str, spans: Spans, out: list[Hit]) -> None:
    """Art. 9 special-category keywords (found at ``spans``), appended to ``out`` (confidence 0.4)."""
    for start, end in words(text, spans):
        word = text[start:end]
        category = SPECIAL_CATEGORY.get(word.lower())
        if category is not None:
            out.append((category, word, start, end, 0.4))
