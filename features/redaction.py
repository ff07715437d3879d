"""Strip personal data from feedback texts before they are stored, embedded or shown.

`redact_pii` replaces each piece of personal data with a placeholder (`PII_PLACEHOLDERS`) and leaves
everything else byte for byte: dates, years, times, amounts of money, counts, house numbers and problem
locations carry the topic of an appeal, so a rule fires only on a shape (or a keyword) that such
numbers do not have.

Rules run in this order; each sees the text left by the previous ones, so an earlier, more specific
rule claims its digits before a looser one can misread them:

1. e-mail (its local part may hold digits that would look like a phone);
2. keyword-anchored identifiers: «СНИЛС …», «ИНН …», passport «серия … номер …» or a series and
   number shortly after «паспорт», a 16-digit policy after «полис»: the keyword settles the kind, so
   an 11-digit SNILS is not read as a phone nor a 12-digit INN as anything else;
3. a SNILS by its own shape `123-456-789 01`;
4. bank cards: 13-19 digits grouped by 4 (or 4-6-5), or ungrouped and Luhn-valid; before phones and
   INN, whose lengths they do not share but whose digits a loose phone rule could bite into;
5. phones: Russian `+7`/`8` + 10 digits, `(area code)` + local, US `NXX-NXX-XXXX`, a bare Russian
   mobile `9XX…` (10 digits), any other `+country …`, then short local numbers: `51-22-33` and
   `351-22-33` on their own (unless they read as a date), `360-144`, `1-22-33` or 5-7 bare digits
   only after «тел», «телефон», «звонить», «по номеру», `phone`, `call`…; a number right after «№»,
   «обращение», «заявление», `ticket #` is a document's and stays;
6. a bare 12-digit INN with valid check digits (a person's INN; a 10-digit INN is a company's, not
   personal data, and application numbers pass its single check digit too often);
7. addresses: Russian street + house + flat («ул. Ленина, д. 5, кв. 12», «улица Ленина 5-12»,
   «Менделеева 24 кв 159»); a Russian street and house without a flat is a multi-flat building, the
   place of the problem, and is kept. English house number + street («123 Main Street», Queens style
   «94-08 214 Street») and `Apt 4B`, since a US house number often is one household;
8. Russian full names with a patronymic («Иванов Иван Иванович», «Иван Иванович») or with
   initials («Иванов И.И.», «И.И. Иванов»).

Links are kept whole (their digits are ids). Known gaps: names without a patronymic or initials (most
English names), lowercase English street names, Russian addresses without a flat or with an
odd-looking one («Ленина 5-7» reads as a range of houses), personal account numbers («л/с»), profile
links (vk.com/id…), phones written in words. The module never logs texts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "ADDRESS",
    "CARD",
    "EMAIL",
    "INN",
    "NAME",
    "PASSPORT",
    "PHONE",
    "PII_PLACEHOLDERS",
    "POLICY",
    "SNILS",
    "redact_pii",
]

PHONE: Final = "[ТЕЛЕФОН]"
EMAIL: Final = "[EMAIL]"
SNILS: Final = "[СНИЛС]"
INN: Final = "[ИНН]"
PASSPORT: Final = "[ПАСПОРТ]"
CARD: Final = "[КАРТА]"
POLICY: Final = "[ПОЛИС]"
ADDRESS: Final = "[АДРЕС]"
NAME: Final = "[ФИО]"

# Kind -> placeholder. Placeholders are upper-case words in brackets: text_tokens drops them as such.
PII_PLACEHOLDERS: Final[Mapping[str, str]] = MappingProxyType({
    "email": EMAIL, "snils": SNILS, "inn": INN, "passport": PASSPORT, "policy": POLICY,
    "card": CARD, "phone": PHONE, "address": ADDRESS, "name": NAME,
})

# A number starts where no word, sign, slash or decimal part touches it ("тел.8912…" still starts:
# a dot after a letter is punctuation), and ends likewise; so digits inside words, URLs, codes like
# «№КО-01-22-130», decimals «51.772775» and longer numbers never match in part.
_START = r"(?<![\w+\-/@#])(?<!\d[.,])"
_END = r"(?![\w\-/@])(?![.,]\d)"
# Amounts of money and percentages are never personal data, whatever their digits look like.
_NOT_MONEY = r"(?!\s*(?i:руб|р\.|₽|коп|тыс|млн|млрд|\$|usd|долл|евро|€|%|процент))"
# Units after a short number: «100-200 метров», «10-15 минут» are ranges, not local phones.
_NOT_UNIT = (r"(?!\s*(?i:руб|р\.|₽|коп|тыс|млн|млрд|\$|%|км|м\b|метр|мин|час|сек|град|°|лет|год|г\.|шт|кг|"
             r"см|мм|чел|minutes?\b|mins?\b|hours?\b|hrs?\b|feet\b|ft\b|miles?\b|blocks?\b|dollars?\b|"
             r"years?\b|people\b))")

_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}(?![\w\-])")
_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
_DIGIT = re.compile(r"\d")


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _inn12_ok(digits: str) -> bool:
    d = [int(c) for c in digits]

    def check(weights: tuple[int, ...]) -> int:
        return sum(w * x for w, x in zip(weights, d, strict=False)) % 11 % 10

    return (check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[10]
            and check((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == d[11])


def _keep_keyword(placeholder: str) -> Callable[[re.Match[str]], str]:
    """Replace group 1 only: the keyword before it («СНИЛС», «ИНН») stays, it says what was there."""

    def repl(m: re.Match[str]) -> str:
        return m.group(0)[: m.start(1) - m.start()] + placeholder + m.group(0)[m.end(1) - m.start():]

    return repl


def _context(pattern: re.Pattern[str], text: str, start: int, width: int) -> bool:
    """Does `pattern` occur in the `width` characters before `start`?"""
    return pattern.search(text, max(0, start - width), start) is not None


# --- 2. keyword-anchored identifiers -------------------------------------------------------------
_KW_NUMBER = r"\s*(?:№|N|(?i:номер))?\s*[:\-–]?\s*"
_SNILS_KW = re.compile(
    r"(?<![^\W\d_])(?:(?i:снилс)|SNILS)" + _KW_NUMBER + r"(\d{3}[ \-]?\d{3}[ \-]?\d{3}[ \-]?\d{2})(?!\d)"
)
_INN_KW = re.compile(r"(?<![^\W\d_])(?:(?i:инн)|INN)(?![^\W\d_])" + _KW_NUMBER + r"(\d{12}|\d{10})(?!\d)")
_PASSPORT_EXPLICIT = re.compile(
    r"(?<![^\W\d_])(?i:сери[яи])(?:\s+(?i:и)\s+|\s*,?\s*)(?:(?i:номер)|№)?\s*[:\-]?\s*\d{2}\s?\d{2}\s*,?\s*"
    r"(?:(?i:номер)|№|N)?\s*[:\-]?\s*\d{6}(?!\d)"
)
_PASSPORT_BARE = re.compile(_START + r"\d{2}\s?\d{2}\s?№?\s?\d{6}" + _END)
_PASSPORT_CONTEXT = re.compile(r"(?i:паспорт|passport)")
_POLICY_KW = re.compile(r"(?<![^\W\d_])(?i:полис)[^\d]{0,40}?(\d{4} ?\d{4} ?\d{4} ?\d{4})(?!\d)")


def _passport_bare(m: re.Match[str]) -> str:
    return PASSPORT if _context(_PASSPORT_CONTEXT, m.string, m.start(), 60) else m.group(0)


# --- 3-4. SNILS by shape, bank cards ---------------------------------------------------------------
_SNILS_SHAPE = re.compile(_START + r"\d{3}-\d{3}-\d{3}[ \-]\d{2}" + _END)
_CARD = re.compile(
    _START + r"(?:\d{4}(?:[ \-]\d{4}){2,3}(?:[ \-]\d{1,4})?|\d{4}[ \-]\d{6}[ \-]\d{5}|\d{13,19})" + _END
)
_CARD_CONTEXT = re.compile(r"(?i:карт|card|visa|mastercard|мир\b)")
# Registration and bank details of organisations are public and Luhn-valid one time in ten.
_REQUISITES_CONTEXT = re.compile(r"(?i:огрн|кпп|бик|окпо|октмо|оквэд|счет|счёт|р/с|к/с|л/с|заявлени|№)")
_YEAR = re.compile(r"(?:19|20)\d\d")
_GROUP_SEP = re.compile(r"[ \-]")


def _card(m: re.Match[str]) -> str:
    raw = m.group(0)
    digits = _digits(raw)
    if not 13 <= len(digits) <= 19:
        return raw
    if len(digits) == len(raw):  # ungrouped: only a Luhn-valid number outside bank details
        if _context(_CARD_CONTEXT, m.string, m.start(), 40):
            return CARD
        if not _luhn_ok(digits) or _context(_REQUISITES_CONTEXT, m.string, m.start(), 30):
            return raw
        return CARD
    if all(_YEAR.fullmatch(g) for g in _GROUP_SEP.split(raw)):  # «2020 2021 2022 2023»: years
        return raw
    # A real card passes Luhn; a grouped number that fails it after «№» is a document's number.
    if not _luhn_ok(digits) and _context(_REQUISITES_CONTEXT, m.string, m.start(), 30):
        return raw
    return CARD


# --- 5. phones -------------------------------------------------------------------------------------
# +7 / 8 / 7, then a 3-5 digit code (optionally bracketed, starting 3-9 as Russian codes do), then the
# rest; the callback insists on exactly 10 national digits.
_RU_PHONE = re.compile(
    _START + r"(?:\+\s?7|8|7)[ \-]?(?:\(\s?[3-9]\d{2,4}\s?\)|[3-9]\d{2,4})(?:[ \-]?\d){5,7}"
    + _END + _NOT_MONEY
)
_BRACKET_PHONE = re.compile(_START + r"\(\s?[2-9]\d{2,4}\s?\)[ \-]?\d(?:[ \-.]?\d){5,8}" + _END)
_US_PHONE = re.compile(
    _START + r"(?:\+?1[ \-.]?)?[2-9]\d{2}[ \-.][2-9]\d{2}[ \-.]\d{4}" + _END + _NOT_MONEY
)
_RU_MOBILE = re.compile(_START + r"9\d{2}(?:[ \-]?\d){7}" + _END + _NOT_MONEY)
_INTL_PHONE = re.compile(r"(?<![\w+])\+\d(?:[ \-()]{0,2}\d){7,14}" + _END + _NOT_MONEY)

_LOCAL_ITEM = r"(?:\d{1,3}-\d{2}-\d{2}|\d{3}-\d{3,4}|\d{5,7})"
_LOCAL_LIST = re.compile(
    _START + _LOCAL_ITEM + r"(?:\s*[,;]\s*" + _LOCAL_ITEM + r"|\s+(?:и|или|and|or)\s+" + _LOCAL_ITEM + r")*"
    + _END + _NOT_UNIT
)
_LOCAL_ITEM_RE = re.compile(_LOCAL_ITEM)
_CLEAR_LOCAL = re.compile(r"(\d{2,3})-(\d{2})-(\d{2})")
_PHONE_CONTEXT = re.compile(
    r"(?i:(?<![^\W\d_])тел(?:\b|\.)|(?<![^\W\d_])телефон|звон|контакт|(?<![^\W\d_])моб(?:\.|ильн)|сотов|факс"
    r"|whatsapp|viber|вайбер|ватсап|phone|\btel\b|\bcall|\bcell\b|mobile|\bfax\b|\btext me\b)"
    r"|(?i:(?:по|на)\s+номер[уа]?|номер\w*\s+телефон\w*)\s*[:№]?\s*$"
    r"|(?:^|[\s(,;:])[тТ]\.\s*$"
    r"|\[ТЕЛЕФОН\][\s,;]*(?:и\s+|or\s+|and\s+)?$"
)
# Right after «№», «обращение», «заявка №», «ticket #» a number is a document's, even near «звонил».
_DOC_CONTEXT = re.compile(
    r"(?:№|#|(?i:(?<![^\W\d_])(?:обращени|заявк|заявлени|сообщени|жалоб|дел[оа]|договор|сч[её]т|л/с|лицев)"
    r"[^\W\d_]*|\b(?:reference|ticket|complaint|case|request|order|sr)\b)\s*(?:№|#|(?i:номер|no\.?|number))?)"
    r"\s*:?\s*$"
)
# A ZIP after a state («NY 11428») or a postcode after «индекс» is no local phone.
_POSTCODE_CONTEXT = re.compile(r"\b(?:N\.Y\.|New York|[A-Z]{2})\s*,?\s*$|(?i:индекс\w*\s*:?\s*$|\bzip\b)")


def _ru_phone(m: re.Match[str]) -> str:
    return PHONE if len(_digits(m.group(0))) == 11 else m.group(0)


def _ten_digit_phone(m: re.Match[str]) -> str:
    return PHONE if len(_digits(m.group(0))) == 10 else m.group(0)


def _is_clear_local(item: str) -> bool:
    """`51-22-33` / `351-22-33` is a phone in practice, unless it reads as a date dd-mm-yy."""
    parts = _CLEAR_LOCAL.fullmatch(item)
    if parts is None:
        return False
    day, month = int(parts.group(1)), int(parts.group(2))
    return len(parts.group(1)) == 3 or not (1 <= day <= 31 and 1 <= month <= 12)


def _bare_mobile(m: re.Match[str]) -> str:
    return m.group(0) if _context(_DOC_CONTEXT, m.string, m.start(), 40) else PHONE


def _local_list(m: re.Match[str]) -> str:
    text, start = m.string, m.start()
    if _context(_POSTCODE_CONTEXT, text, start, 20) or _context(_DOC_CONTEXT, text, start, 40):
        return m.group(0)
    if _context(_PHONE_CONTEXT, text, start, 60):
        return _LOCAL_ITEM_RE.sub(PHONE, m.group(0))
    return _LOCAL_ITEM_RE.sub(lambda i: PHONE if _is_clear_local(i.group(0)) else i.group(0), m.group(0))


# --- 6. bare INN -----------------------------------------------------------------------------------
_INN_BARE = re.compile(_START + r"\d{12}" + _END)


def _inn_bare(m: re.Match[str]) -> str:
    return INN if _inn12_ok(m.group(0)) else m.group(0)


# --- 7. addresses ----------------------------------------------------------------------------------
_RU_STREET = (r"(?i:ул(?:иц[аеуы]|\.|\b)|пр(?:-к?т[аеу]?\.?|оспект[аеу]?|\.)|пер(?:еул(?:ок|к[аеу])|\.)|б-р|"
              r"бульвар[аеу]?|ш(?:оссе|\.)|пл(?:ощад[ьи]|\.)|проезд[аеу]?|наб(?:ережн(?:ая|ой)|\.)|"
              r"мкр(?:\.|\b)|микрорайон[аеу]?|тупик|аллея)")
_RU_WORD = r"(?:\d{1,2}\s?-\s?[а-яё]{1,2}\s+)?(?:[А-ЯЁ]\.\s?){0,2}[А-ЯЁа-яё][а-яё]+(?:-[А-ЯЁа-яё][а-яё]+)?"
_RU_CAP_WORD = r"(?:[А-ЯЁ]\.\s?){0,2}[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?"
_RU_HOUSE = (r"(?:(?i:д(?:ом)?)\.?\s*№?\s*)?\d{1,4}(?:\s?[а-яА-Я](?![а-яА-Я]))?(?:\s?[/\\]\s?\d{1,3}[а-я]?)?"
             r"(?:[\s,]*(?i:корп(?:ус|\.)?|к\.?|стр(?:оение|\.)?)\s*\d{1,3}[а-я]?)?")
_RU_MIDDLE = (r"(?:[\s,]*(?i:подъезд|подьезд|под\.)\s*№?\s*\d{1,2})?"
              r"(?:[\s,]*\d{1,2}\s*-?\s*(?:й\s*)?(?i:этаж))?")
_RU_FLAT = r"[\s,.]*(?i:кв(?:артира|\.|\b))\s*\.?\s*№?\s*\d{1,4}(?:\s?[а-я](?![а-я]))?"
_RU_ADDRESS = re.compile(
    r"(?<![\w.])(?:"
    + _RU_STREET + r"\s*" + _RU_WORD + r"(?:\s+" + _RU_WORD + r"){0,2}(?:\s+" + _RU_STREET + r")?"
    + r"|" + _RU_CAP_WORD + r"(?:\s+" + _RU_CAP_WORD + r")?(?:\s+" + _RU_STREET + r")?"
    + r")[\s,]*" + _RU_HOUSE + _RU_MIDDLE + _RU_FLAT + r"(?!\d)"
)
# «улица Ленина 5-12»: house-flat, after a street marker and capitalised name words only. Without
# «д.» before it; and a pair on one side of the street («12-16», «2-4») or «3-4» is a range of houses.
_RU_ADDRESS_HYPHEN = re.compile(
    r"(?<![\w.])" + _RU_STREET + r"\s*" + _RU_CAP_WORD + r"(?:\s+" + _RU_CAP_WORD + r"){0,2}[\s,]*"
    + r"(\d{1,4})-(\d{1,4})(?![\w\-])(?![.,]\d)" + _NOT_UNIT
)


def _ru_address_hyphen(m: re.Match[str]) -> str:
    house, flat = int(m.group(1)), int(m.group(2))
    is_range = flat == house + 1 or (flat > house and (flat - house) % 2 == 0)
    return m.group(0) if is_range else ADDRESS


# Full street words end at their last letter; only abbreviations take a following dot («St.», «Ave.»).
_EN_SUFFIX = (r"(?:(?i:street|avenue|road|boulevard|place|drive|lane|court|parkway|terrace|highway|"
              r"expressway|turnpike|square|plaza|way)\b|(?i:st|ave|av|rd|blvd|pl|dr|ln|ct|pkwy|ter|hwy|expy|tpke|sq)\b\.?)")
_EN_WORD = r"(?:\d{1,3}(?:st|nd|rd|th)?|[A-Z][A-Za-z'\-]*\.?)"
# «Apt 4B», «apartment 107», «Suite A»; a lone lowercase letter only after «apt» («apt b»), since
# «apartment a» is ordinary English.
_EN_APT = (r"(?:(?i:apt|apartment|suite)\.?\s*#?\s*(?:\d{1,4}[A-Za-z]?|[A-Za-z]\d{1,3}|[A-Z])\b"
           r"|(?i:apt)\.?\s+[a-z]\b)")
_EN_ADDRESS = re.compile(
    _START + r"(?:\d{1,5}(?:-\d{1,4})?[A-Za-z]?\s+(?:(?i:[NSEW]|north|south|east|west)\.?\s+)?"
    + _EN_WORD + r"(?:\s+" + _EN_WORD + r"){0,2}\s+" + _EN_SUFFIX + r"|\d{1,5}\s+Broadway\b)"
    + r"(?:,?\s*" + _EN_APT + r")?"
)
_EN_APT_ALONE = re.compile(r"(?<![\w\[])" + _EN_APT)

# --- 8. Russian full names -------------------------------------------------------------------------
# Capitalised words that precede or follow a name but are not surnames.
_NOT_SURNAME = (r"(?:Уважаем\w*|Дорог\w*|Здравствуйте|Добр\w*|Меня|Зовут|Я|Мы|Мой|Моя|Мои|Мама|Папа|Сын|Дочь|"
                r"Жена|Муж|Гражданин\w*|Господин|Госпожа|Директор\w*|Глав\w*|Губернатор\w*|Врач\w*|Спасибо|"
                r"Прошу|Просим|Прилага\w*|Заранее|Адрес\w*|Прожива\w*|Телефон\w*|Президент\w*|Министр\w*|Мэр\w*|"
                r"Депутат\w*|Прокурор\w*|Председател\w*|Начальник\w*|Заместител\w*|Город\w*|Район\w*|Област\w*|"
                r"С|От|Для|Это|Когда|Как|Что|Почему|Но|И|А|В|На|По)\b")
_SURNAME = r"(?!" + _NOT_SURNAME + r")[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?"
_PATRONYMIC = r"[А-ЯЁ][а-яё]+(?:ович|евич|ьич|овна|евна|ична)\b"
_INITIALS = r"[А-ЯЁ]\.\s?[А-ЯЁ]\.(?![а-яё])"
_NAME = re.compile(
    r"(?<![\w.])(?:"
    + r"(?:" + _SURNAME + r"\s+)?[А-ЯЁ][а-яё]+\s+" + _PATRONYMIC
    + r"(?:[ \t]+" + _SURNAME + r"(?=[ \t]*(?:[.,;:!?)\n]|$)))?"
    + r"|" + _SURNAME + r"\s+" + _INITIALS
    + r"|" + _INITIALS + r"\s?" + _SURNAME
    + r")"
)

# (pattern, replacement, gate): a rule runs only when one of its gate strings occurs in the lower-cased
# text (an empty gate: always). Gates are plain substring tests, far cheaper than a regex scan that
# starts with a look-behind, and most texts hold none of the keywords.
_Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str], tuple[str, ...]]
_ALWAYS: Final[tuple[str, ...]] = ()
_TEXT_RULES: Final[tuple[_Rule, ...]] = ((_EMAIL, EMAIL, ("@",)),)
_NUMBER_RULES: Final[tuple[_Rule, ...]] = (
    (_SNILS_KW, _keep_keyword(SNILS), ("снилс", "snils")),
    (_INN_KW, _keep_keyword(INN), ("инн", "inn")),
    (_PASSPORT_EXPLICIT, PASSPORT, ("сери",)),
    (_PASSPORT_BARE, _passport_bare, ("паспорт", "passport")),
    (_POLICY_KW, _keep_keyword(POLICY), ("полис",)),
    (_SNILS_SHAPE, SNILS, ("-",)),
    (_CARD, _card, _ALWAYS),
    (_RU_PHONE, _ru_phone, ("7", "8")),
    (_BRACKET_PHONE, _ten_digit_phone, ("(",)),
    (_US_PHONE, PHONE, _ALWAYS),
    (_RU_MOBILE, _bare_mobile, ("9",)),
    (_INTL_PHONE, PHONE, ("+",)),
    (_LOCAL_LIST, _local_list, _ALWAYS),
    (_INN_BARE, _inn_bare, _ALWAYS),
    (_RU_ADDRESS, ADDRESS, ("кв",)),
    (_RU_ADDRESS_HYPHEN, _ru_address_hyphen, ("-",)),
    (_EN_ADDRESS, ADDRESS, _ALWAYS),
)
_TAIL_RULES: Final[tuple[_Rule, ...]] = (
    (_EN_APT_ALONE, ADDRESS, ("apt", "apartment", "suite")),
    (_NAME, NAME, ("вич", "вна", "ична", ".")),
)


def _apply(rules: tuple[_Rule, ...], text: str, lowered: str) -> str:
    for pattern, repl, gate in rules:
        if not gate or any(g in lowered for g in gate):
            text = pattern.sub(repl, text)
    return text


def _redact_plain(text: str) -> str:
    lowered = text.lower()
    text = _apply(_TEXT_RULES, text, lowered)
    if _DIGIT.search(text):  # every number rule needs a digit: most short texts skip them all
        text = _apply(_NUMBER_RULES, text, lowered)
    return _apply(_TAIL_RULES, text, lowered)


def redact_pii(text: str) -> str:
    """Return `text` with phones, e-mails, SNILS, INN, passports, cards, addresses and names replaced.

    Links are kept as they are (their digits are ids, not phones); see the module docstring for the
    rules and their order.
    """
    if not text:
        return text
    if "://" not in text and "www." not in text:
        return _redact_plain(text)
    parts: list[str] = []
    last = 0
    for m in _URL.finditer(text):
        parts.append(_redact_plain(text[last : m.start()]))
        parts.append(m.group(0))
        last = m.end()
    parts.append(_redact_plain(text[last:]))
    return "".join(parts)
