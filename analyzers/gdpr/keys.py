"""Keys that tell what a value is: CSV columns, JSON keys, spreadsheet headers.

A key is compared in a normal form (lower case, letters and digits only), so ``First Name``,
``first_name`` and ``firstName`` are one key. Extraction keeps only the values under a key of some
:func:`role`: the others say nothing a detector reads, and a dense export holds millions of them.
"""

from __future__ import annotations

import functools

#: Keys whose values are names, or parts of names.
NAME_KEYS = frozenset({"name", "firstname", "lastname", "fullname", "surname", "givenname", "familyname", "customer",
                       "customername", "contact", "contactname", "person", "nom", "prenom", "prénom", "nombre",
                       "apellido", "apellidos", "nome", "cognome", "naam", "voornaam", "achternaam", "vorname",
                       "nachname", "fromname", "sender", "recipient", "employee", "patient", "holder",
                       "accountholder", "cardholder"})
#: Keys whose values are addresses, or their street line.
ADDRESS_KEYS = frozenset({"address", "streetaddress", "street", "street1", "street2", "addressline1", "addressline2",
                          "address1", "address2", "homeaddress", "postaladdress", "mailingaddress", "billingaddress",
                          "shippingaddress", "adresse", "rue", "strasse", "straße", "direccion", "dirección", "calle",
                          "indirizzo", "via", "adres", "straat"})
#: Keys whose values are dates of birth.
BIRTH_KEYS = frozenset({"dob", "birthdate", "dateofbirth", "birthday", "datenaissance", "datedenaissance",
                        "geburtsdatum", "fechanacimiento", "fechadenacimiento", "datanascita", "datadinascita",
                        "geboortedatum", "borndate", "bday"})
#: Keys whose values are telephone numbers: under them a bare run of digits is one.
PHONE_KEYS = frozenset({"phone", "phonenumber", "telephone", "tel", "mobile", "mobilephone", "cell", "cellphone",
                        "fax", "homephone", "workphone", "téléphone", "telephone1", "portable", "telefon", "handy",
                        "mobil", "telefono", "teléfono", "movil", "móvil", "cellulare", "telefoon", "mobiel"})

_ROLES = (("name", NAME_KEYS), ("address", ADDRESS_KEYS), ("birth", BIRTH_KEYS), ("phone", PHONE_KEYS))


@functools.lru_cache(maxsize=4096)
def normalise(key: str) -> str:
    """A key as the key sets hold it: lower case, letters and digits only."""
    return "".join(c for c in key.lower() if c.isalnum())


@functools.lru_cache(maxsize=4096)
def role(key: str) -> str | None:
    """What the values under ``key`` are (``name``, ``address``, ``birth``, ``phone``), or None."""
    normal = normalise(key)
    return next((name for name, keys in _ROLES if normal in keys), None)
