"""Checks on the text a model generates: links, e-mail addresses and phone numbers.

A model that follows an instruction hidden in a CRM note could put a phishing
link or an outsider's address into a note or task. Generated text may therefore
contain only links to allow-listed domains, and only e-mail addresses and phone
numbers that a trusted field of the run's context already contains.
"""

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from contracts import ContextBundle
from contracts.values import FieldValue, RecordsValue, TextValue

LINK = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'()\[\]{}]+")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# A run of digits with the separators phone numbers use. Candidates are then
# filtered by digit count and shape, because dates and amounts match too.
PHONE_CANDIDATE = re.compile(r"(?<![\w.,])\+?\(?\d[\d ().-]{5,}\d(?![\w])")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
PLAIN_NUMBER = re.compile(r"\d+(\.\d+)?")
MIN_PHONE_DIGITS = 9
MAX_PHONE_DIGITS = 15
MAX_QUOTED = 80


def untrusted_fields(context: ContextBundle) -> list[str]:
    """Return the context fields that contain text typed by people, sorted."""
    return sorted(name for name, entry in context.fields.items() if _untrusted(entry.value))


def _untrusted(value: FieldValue) -> bool:
    if isinstance(value, RecordsValue):
        return any(_untrusted(cell) for row in value.rows for cell in row.values())
    return isinstance(value, TextValue) and value.untrusted


def text_problems(
    texts: Iterable[tuple[str, str]],
    *,
    context: ContextBundle,
    allowed_link_domains: Sequence[str],
) -> list[str]:
    """Return one message per link, e-mail address or phone number the text may not contain.

    Args:
        texts: (location, text) pairs of generated text, such as
            ``("actions[0].fields.body", "...")``.
        context: the run's context. Its trusted text fields supply the e-mail
            addresses and phone numbers that generated text may repeat.
        allowed_link_domains: host names that links may point to, each also
            allowing its subdomains.
    """
    known_emails, known_phones = _trusted_contacts(context)
    domains = [domain.lower().strip(".") for domain in allowed_link_domains if domain.strip(".")]
    problems = []
    for location, text in texts:
        for link in LINK.findall(text):
            if not _link_allowed(link, domains):
                problems.append(
                    f"{location}: the link {quoted(link)} is not allowed; "
                    "remove links to sites outside the allow-list"
                )
        for address in EMAIL.findall(text):
            if address.lower() not in known_emails:
                problems.append(
                    f"{location}: the e-mail address {quoted(address)} is not in a trusted "
                    "field of the context; remove it"
                )
        for number in phone_numbers(text):
            if number not in known_phones:
                problems.append(
                    f"{location}: the phone number {quoted(number)} is not in a trusted "
                    "field of the context; remove it"
                )
    return problems


def phone_numbers(text: str) -> list[str]:
    """Return the digits of each phone-number-like run in ``text``.

    NOTE: this is a heuristic. It takes 9 to 15 digits written with a leading
    ``+`` or with separators, and skips ISO dates and plain decimal numbers, so
    a phone number written as one unbroken run of digits is not found.
    """
    numbers = []
    for candidate in PHONE_CANDIDATE.findall(text):
        stripped = candidate.strip()
        digits = re.sub(r"\D", "", stripped)
        if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS:
            continue
        if ISO_DATE.search(stripped) or PLAIN_NUMBER.fullmatch(stripped):
            continue
        numbers.append(digits)
    return numbers


def _trusted_contacts(context: ContextBundle) -> tuple[set[str], set[str]]:
    """Collect e-mail addresses and phone numbers from context text not typed by people.

    An address that appears only in untrusted text, such as a meeting note, does
    not count: that is where an injected instruction would plant it.
    """
    emails: set[str] = set()
    phones: set[str] = set()
    for text in _trusted_texts(context):
        emails.update(address.lower() for address in EMAIL.findall(text))
        phones.update(phone_numbers(text))
    return emails, phones


def _trusted_texts(context: ContextBundle) -> Iterable[str]:
    for entry in context.fields.values():
        value = entry.value
        if isinstance(value, TextValue) and not value.untrusted:
            yield value.value
        elif isinstance(value, RecordsValue):
            for row in value.rows:
                for cell in row.values():
                    if isinstance(cell, TextValue) and not cell.untrusted:
                        yield cell.value


def _link_allowed(link: str, domains: Sequence[str]) -> bool:
    url = link if "://" in link else f"http://{link}"
    try:
        host = (urlsplit(url).hostname or "").lower().strip(".")
    except ValueError:
        return False
    return any(host == domain or host.endswith(f".{domain}") for domain in domains)


def quoted(text: str) -> str:
    """Return ``text`` as a Python literal, cut to ``MAX_QUOTED`` characters, for messages."""
    return repr(text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "...")
