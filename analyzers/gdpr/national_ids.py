"""National identifiers' checks, for values the scans have already matched to the identifier's shape.

Each gives python-stdnum's verdict: stdnum first cleans a value character by character and parses it
again, some 5 µs a value, and a dense export holds an identifier a row. A value in the shape's ASCII
form is checked here directly; any other (digits of another script, which ``\\d`` matches) goes to stdnum.
"""

from __future__ import annotations

import datetime

from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.us import ssn

#: SSNs that are invalid though well formed: published in advertising, or used as examples.
_SSN_BLACKLIST = frozenset({"078-05-1120", "457-55-5462", "219-09-9999"})
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
#: A codice fiscale's date digits, which letters replace when two codes would clash, and its month letters.
_FISCAL_DIGITS = {**{c: n for n, c in enumerate("0123456789")}, **{c: n for n, c in enumerate("LMNPQRSTUV")}}
_FISCAL_MONTHS = {c: n + 1 for n, c in enumerate("ABCDEHLMPRST")}


def us_ssn(value: str) -> bool:
    """A value of the shape ``ddd-dd-dddd``: no area 000, 666 or 9xx, no group 00, no serial 0000."""
    if not value.isascii():
        return ssn.is_valid(value)
    area = value[:3]
    return not (area in ("000", "666") or area[0] == "9" or value[4:6] == "00" or value[7:] == "0000"
                or value in _SSN_BLACKLIST)


def fr_nir(value: str) -> bool:
    """A NIR without its spaces (15 characters, the department perhaps 2A or 2B): its two check digits."""
    if not value.isascii():
        return nir.is_valid(value)
    department = value[5:7]
    number = value[:5] + ("19" if department == "2A" else "18" if department == "2B" else department) + value[7:13]
    return f"{97 - int(number) % 97:02d}" == value[13:]


def de_tax_id(value: str) -> bool:
    """A Steuer-ID without its spaces (11 digits): no leading zero, exactly one digit of the first ten
    repeated (twice or three times), and the ISO 7064 Mod 11,10 check digit."""
    if not value.isascii():
        return idnr.is_valid(value)
    if value[0] == "0":
        return False
    repeated = [count for count in map(value.count, set(value[:10]), (0,) * 10, (10,) * 10) if count > 1]
    if len(repeated) != 1 or repeated[0] not in (2, 3):
        return False
    check = 5
    for digit in value:
        check = (((check or 10) * 2) % 11 + ord(digit) - 48) % 10
    return check == 1


def es_dni(value: str) -> bool:
    """A DNI (eight digits, perhaps a hyphen, a letter): the letter is the number's remainder mod 23."""
    if not value.isascii():
        return dni.is_valid(value)
    return _DNI_LETTERS[int(value[:8]) % 23] == value[-1]


def es_nie(value: str) -> bool:
    """An NIE (X, Y or Z, seven digits, a letter, hyphens perhaps between): a DNI with X, Y, Z for 0, 1, 2."""
    if not value.isascii():
        return nie.is_valid(value)
    number = value.replace("-", "")
    return _DNI_LETTERS[int(str("XYZ".index(number[0])) + number[1:8]) % 23] == number[8]


def it_fiscal_code(value: str) -> bool:
    """A codice fiscale of the 16-character shape: its check letter, and a birth date (year from 1920 on, day
    plus 40 for women) that exists."""
    if codicefiscale.calc_check_digit(value[:-1]) != value[-1]:
        return False
    digits = _FISCAL_DIGITS
    year = 1900 + digits[value[6]] * 10 + digits[value[7]]
    try:
        datetime.date(year if year >= 1920 else year + 100, _FISCAL_MONTHS[value[8]],
                      (digits[value[9]] * 10 + digits[value[10]]) % 40)
    except ValueError:
        return False
    return True
