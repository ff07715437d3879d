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
8. personal accounts («л/с 574744», «лицевой счёт № …») and sick-leave certificates after their keyword;
9. names: with a patronymic in any case and any letter case («Иванов Иван Иванович», «ИВАНОВ ИВАН
   ИВАНОВИЧ», «иванов иван иванович», «Роману Владимировичу»), with initials («Иванов И.И.», «И.И. Иванов»,
   «Петров И И», «Смирнова Е.», «А. Телегину»), a first name beside a surname («Соколова Мария»), a surname
   after a person's role («жильца Халявина», «ИП Копысова»), English or transliterated names (a first name
   from gender-guesser's list and a capitalised word, «John Smith»; «Mr. Smith»); the pymorphy3 dictionary
   confirms the words where the shape alone would be too loose. Then natasha's Russian NER (slovnet and navec;
   the models ship inside the package, nothing is downloaded) on the texts that hold a word the dictionary
   knows as a first name or surname, in batches (`redact_many`); and every other mention of a surname already
   found («… Сапрановой Н.А. … от Сапрановой»). A first name alone («Сергей пришёл») is kept, and so are
   streets and institutions named after people («ул. Карла Маркса», «им. Н.С. Короткова», «Комарова 8А»).

Links are kept whole (their digits are ids) except what identifies a person in them: e-mails and phones in
query strings (`?phone=…`, `mailto:`, `%40`) and profile pages (vk.com/id…, vk.com/name, ok.ru/profile…,
t.me/name); community pages, posts and topics (vk.com/club…, wall…, topic…) stay. `pii_spans` gives where each
piece of personal data was in the original text (for measuring, `python -m bench redaction`). Known gaps:
a surname alone without a role word or another mention («Панкова предложила»), lowercase English names,
English street names in lowercase, Russian addresses without a flat, phones written in words; organisations'
INN after «ИНН» are masked too. The module never logs texts.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Final

__all__ = [
    "ADDRESS",
    "CARD",
    "DOCUMENT",
    "EMAIL",
    "INN",
    "NAME",
    "PASSPORT",
    "PHONE",
    "PII_PLACEHOLDERS",
    "POLICY",
    "PROFILE",
    "SNILS",
    "PiiSpan",
    "pii_spans",
    "pii_spans_many",
    "redact_many",
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
DOCUMENT: Final = "[ДОКУМЕНТ]"
PROFILE: Final = "[ПРОФИЛЬ]"

# Kind -> placeholder. Placeholders are upper-case words in brackets: text_tokens drops them as such.
PII_PLACEHOLDERS: Final[Mapping[str, str]] = MappingProxyType({
    "email": EMAIL, "snils": SNILS, "inn": INN, "passport": PASSPORT, "policy": POLICY,
    "card": CARD, "phone": PHONE, "address": ADDRESS, "name": NAME, "document": DOCUMENT, "profile": PROFILE,
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
_URL = re.compile(r"(?i)\b(?:https?://|www\.|(?:m\.)?vk\.com/|t\.me/)\S+")
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

# --- 8. obfuscated e-mails, personal accounts, sick-leave certificates, profile links -----------------
_EMAIL_OBFUSCATED = re.compile(
    r"(?<![\w.+\-])[\w.+\-]+\s?(?i:\(at\)|\[at\]|\{at\}|\(собака\)|\s(?:собака|собачка)\s)\s?[\w\-]+"
    r"(?:\s?(?i:\.|\(dot\)|\[dot\]|\{dot\}|\(точка\)|\sточка\s|\sdot\s)\s?[\w\-]+)*"
    r"\s?(?i:\.|\(dot\)|\[dot\]|\{dot\}|\(точка\)|\sточка\s|\sdot\s)\s?[^\W\d_]{2,}(?![\w\-])"
)
# «л/с 574744», «лицевой счёт № 1234567890»; «больничный лист № …», «листок нетрудоспособности …».
_ACCOUNT_KW = re.compile(
    r"(?<![^\W\d_])(?i:л\s?/\s?с(?:ч(?:ет|ёт|\.))?|лицев\w*\s+сч[её]т\w*|больничн\w*(?:\s+лист\w*)?|"
    r"лист\w*\s+нетрудоспособности)" + _KW_NUMBER + r"(\d[\d \-]{3,22}\d)(?!\d)"
)
# A person's page on a social network: vk.com/id123 or vk.com/some_name (communities, posts and topics
# are public: club, public, wall, topic, event, album, photo, video, market, app).
_PROFILE = re.compile(
    r"(?i)\b(?:https?://)?(?:m\.|www\.)?(?:vk\.com|vkontakte\.ru|ok\.ru/profile|facebook\.com|fb\.com|"
    r"instagram\.com|t\.me)/(?!(?:club|public|wall|topic|event|album|photo|video|market|app|away|feed|search|"
    r"groups?|pages?|s/|joinchat|share)[\w\-]*(?:[/?#]|$))[\w.\-]+/?"
)
# Inside a link: a phone after tel:, phone=, wa.me/…, or any +7 / 8 with ten digits; an e-mail (%40 too).
_URL_PHONE = re.compile(
    r"(?i)(?:(?<=tel:)|(?<=phone=)|(?<=tel=)|(?<=wa\.me/)|(?<=whatsapp\.com/send\?phone=))(?:%2B|\+)?\d{10,13}"
    r"|(?:%2B|\+)[78][\-\d]{10,14}(?!\d)|(?<![\d])8[\-]?9\d{2}[\-]?\d{3}[\-]?\d{2}[\-]?\d{2}(?!\d)"
)
_URL_EMAIL = re.compile(r"(?i)[\w.+\-]+(?:@|%40)[\w\-]+(?:\.[\w\-]+)*\.[a-z]{2,}")

# --- 9. names --------------------------------------------------------------------------------------
# Capitalised words that precede or follow a name but are not surnames.
_NOT_SURNAME = (r"(?:Уважаем\w*|Дорог\w*|Здравствуйте|Добр\w*|Меня|Зовут|Я|Мы|Мой|Моя|Мои|Мама|Папа|Сын|Дочь|"
                r"Жена|Муж|Гражданин\w*|Господин|Госпожа|Директор\w*|Глав\w*|Губернатор\w*|Врач\w*|Спасибо|"
                r"Прошу|Просим|Прилага\w*|Заранее|Адрес\w*|Прожива\w*|Телефон\w*|Президент\w*|Министр\w*|Мэр\w*|"
                r"Депутат\w*|Прокурор\w*|Председател\w*|Начальник\w*|Заместител\w*|Город\w*|Район\w*|Област\w*|"
                r"С|От|Для|Это|Когда|Как|Что|Почему|Но|И|А|В|На|По)\b")
_SURNAME = r"(?!" + _NOT_SURNAME + r")[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?"
_FIRST = r"[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?"
# Patronymics in every case: «Иванович», «Ивановичу», «Сергеевной», «Ильинична», «Кузьмич».
_PATRONYMIC = r"[А-ЯЁ][а-яё]+(?:ович|евич|ьич|овн|евн|ичн|инич)[а-яё]{0,3}\b"
_INITIALS = r"[А-ЯЁ]\.\s?[А-ЯЁ](?:\.(?![а-яё])|(?![\w.]))"
_NAME = re.compile(
    r"(?<![\w.])(?:"
    + r"(?:" + _SURNAME + r"\s+)?" + _FIRST + r"\s+" + _PATRONYMIC
    + r"(?:[ \t]+" + _SURNAME + r"(?=[ \t]*(?:[.,;:!?)\n\[\d]|$)))?"
    + r"|" + _SURNAME + r"\s+" + _INITIALS + r"(?!\s?[А-ЯЁ][а-яё])"  # «Курска Д.В. Ходеев»: the initials go right
    + r"|" + _INITIALS + r"\s?" + _SURNAME
    + r")"
)
# «Петров И И», «Смирнова Е.», «ПЕТРОВ И.И.»: a surname (checked with the dictionary) and loose initials.
_SURNAME_LOOSE_INITIALS = re.compile(
    r"(?<![\w.])([А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?|[А-ЯЁ]{2,}(?:-[А-ЯЁ]{2,})?)"
    r"\s+(?:[А-ЯЁ]\s[А-ЯЁ](?![\w.])|[А-ЯЁ]\.\s?[А-ЯЁ]\.?(?![а-яё])|[А-ЯЁ]\.(?!\s?[А-ЯЁ][а-яё]))"
)
# «А. Телегину»: one initial and a surname (checked with the dictionary).
_INITIAL_SURNAME = re.compile(r"(?<![\w.])[А-ЯЁ]\.\s?([А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?)(?![\w\-])")
# «жильца Халявина», «ИП Копысова», «директору Савенкову»: a surname after a word for a person's role.
_ROLE_SURNAME = re.compile(
    r"(?<![\w\-])(?i:жил(?:ец|ьц[аеуы]\w*)|сосед\w*|гражданин\w*|гражданк\w*|директор\w*|начальни\w*|врач\w*|"
    r"диспетчер\w*|водител\w*|учител\w*|руководител\w*|мастер\w*|инженер\w*|сотрудни\w*|председател\w*|"
    r"заведующ\w*|фельдшер\w*|терапевт\w*|педиатр\w*|специалист\w*|г-н|г-жа|господин\w*|госпож\w*|ИП|"
    r"сем(?:ья|ьи|ье|ью)|фамили\w*)\s*[-–—:]?\s*([А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?)(?![\w\-])"
)
# A surname right beside a name already masked («[ФИО] Степанов написал») joins it.
_SURNAME_BESIDE = re.compile(r"\[ФИО\][ \t]+([А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?)(?![\w\-])")
_CYRILLIC_WORD = re.compile(r"(?<![\w.\-])[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?(?![\w\-])")
# Lower- or upper-case runs of two or three words with a patronymic: «иванов иван иванович», «ПЕТРОВ ИВАН
# СЕРГЕЕВИЧ». Each candidate is confirmed with the pymorphy3 dictionary (a patronymic, and a first name or
# surname beside it), since case gives no hint here.
_WORD_RUN = re.compile(
    r"(?i)(?<![\w\-])(?:([а-яё]+(?:-[а-яё]+)?)\s+)?([а-яё]+)\s+"
    r"([а-яё]+(?:ович|евич|ьич|овн|евн|ичн|инич)[а-яё]{0,3})(?:\s+([а-яё]+(?:-[а-яё]+)?))?(?![\w\-])"
)
_PATRONYMIC_SHAPE = re.compile(r"(?i)(?:ович|евич|ьич|овн|евн|ичн|инич)[а-яё]{0,3}$")
# English (and transliterated) names: a known first name (gender-guesser's dictionary) and a capitalised
# surname, unless a place word follows or a place preposition precedes («Francis Lewis Blvd», «on the
# Major Deegan»); and any capitalised word after a title («Mr. Smith», «Mayor Bloomberg»).
_LATIN_WORD = re.compile(r"(?<![\w.\-])[A-Z][a-z]+(?:-[A-Z][a-z]+)?(?![\w\-])")
_LATIN_GAP = re.compile(r"\s+(?:[A-Z]\.\s+)?")  # «John Smith», «John F. Smith»
_LATIN_TITLED = re.compile(
    r"(?<![\w])(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Mayor|Senator|Councilman|Councilwoman|Officer|Sgt|Det|Supt)\.?\s+"
    r"([A-Z][a-z]+(?:[ \-][A-Z][a-z]+)?)"
)
_PLACE_AFTER = re.compile(
    r"(?:\s+[A-Z][a-z]+)?\s*(?i:st\b|street|ave\b|avenue|av\b|road|rd\b|blvd|boulevard|place|pl\b|drive|dr\b|lane|ln\b|court|ct\b|"
    r"parkway|pkwy|expressway|expwy|expy|highway|hwy|bridge|tunnel|park|plaza|square|sq\b|terrace|turnpike|tpke|"
    r"station|school|hospital|center|centre|hall|library|church|houses|towers|building|university|college|"
    r"academy|stadium|beach|heights|hills|village|gardens|island|service|blvd|mall|market|restaurant|cafe|"
    r"bar\b|grill|hotel|lounge|deli|pizza|laundromat|inc\b|llc\b|corp|co\b)"
)
_PLACE_BEFORE = re.compile(r"(?i:\b(?:on|at|of|from|to|into|onto|near|between|and|the|via|off|along|across)\s+)$")
# Before a Russian name found by the NER: a street, a place or an institution named after a person.
_NAMED_PLACE_BEFORE = re.compile(
    r"(?i:(?:ул|улиц\w*|пр|пр-т|пр-кт|просп\w*|пер|переул\w*|пл|площад\w*|проезд\w*|пр-д|пр-ду|б-р|бульвар\w*|"
    r"ш|шоссе|наб|набережн\w*|мкр|микрорайон\w*|мик-н|им|имени|памятник\w*|парк\w*|сквер\w*|ост|остановк\w*|"
    r"ст|станци\w*|пос|посел\w*|посёл\w*|с|село|д|дер|деревн\w*|г|х|хутор\w*|школ\w*|лице\w*|гимнази\w*|кафе|магазин\w*|ТЦ|ТРЦ|центр\w*|улицам\w*|улицах)\.?\s*"
    r"(?:\d+-?[а-я]{0,2}\s+)?(?:[А-ЯЁA-Z]\.\s?){0,2})$"
)

# (pattern, replacement, gate): a rule runs only when one of its gate strings occurs in the lower-cased
# text (an empty gate: always). Gates are plain substring tests, far cheaper than a regex scan that
# starts with a look-behind, and most texts hold none of the keywords.
Replacement = str | Callable[[re.Match[str]], str]
# A rule's matcher is a compiled pattern, or a finder returning (start, end, replacement) pieces itself.
Finder = Callable[[str], list[tuple[int, int, str]]]
_Rule = tuple[re.Pattern[str] | Finder, Replacement, tuple[str, ...]]
_ALWAYS: Final[tuple[str, ...]] = ()
_TEXT_RULES: Final[tuple[_Rule, ...]] = (
    (_EMAIL, EMAIL, ("@",)),
    (_EMAIL_OBFUSCATED, EMAIL, ("(at)", "[at]", "{at}", "собак", "собачк")),
)
_NUMBER_RULES: Final[tuple[_Rule, ...]] = (
    (_SNILS_KW, _keep_keyword(SNILS), ("снилс", "snils")),
    (_INN_KW, _keep_keyword(INN), ("инн", "inn")),
    (_PASSPORT_EXPLICIT, PASSPORT, ("сери",)),
    (_PASSPORT_BARE, _passport_bare, ("паспорт", "passport")),
    (_POLICY_KW, _keep_keyword(POLICY), ("полис",)),
    (_ACCOUNT_KW, _keep_keyword(DOCUMENT), ("л/с", "л/сч", "л /", "лицев", "больничн", "нетрудоспособн")),
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
_URL_RULES: Final[tuple[_Rule, ...]] = (
    (_PROFILE, PROFILE, ("vk.com", "vkontakte", "ok.ru", "facebook", "fb.com", "instagram", "t.me")),
    (_URL_EMAIL, EMAIL, ("@", "%40")),
    (_URL_PHONE, PHONE, _ALWAYS),
)


# --- the dictionary and the NER, loaded on first use -------------------------------------------------
@lru_cache(maxsize=1)
def _morph():  # pymorphy3.MorphAnalyzer, imported lazily (a second to load)
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=50_000)
def _grammemes(word: str) -> frozenset[str]:
    """Name grammemes (Name, Surn, Patr) of the likely parses of `word` (score >= 0.1)."""
    parses = _morph().parse(word.lower())
    return frozenset(g for p in parses if p.score >= 0.1 for g in ("Name", "Surn", "Patr") if g in p.tag)


@lru_cache(maxsize=50_000)
def _any_name(word: str) -> bool:
    """Is some parse of `word`, however unlikely, a first name?"""
    return any("Name" in p.tag for p in _morph().parse(word.lower()))


@lru_cache(maxsize=1)
def _first_names() -> Callable[[str], str]:
    import gender_guesser.detector as gender

    return gender.Detector(case_sensitive=False).get_gender


class _Ner:
    """natasha's news NER (slovnet + navec, models shipped inside the package: no download), one per process.

    Texts go through slovnet in batches (`persons_many`): about 4x the speed of one text at a time.
    """

    def __init__(self) -> None:
        from natasha import NewsEmbedding, NewsNERTagger

        self._tagger = NewsNERTagger(NewsEmbedding())
        self._lock = threading.Lock()  # slovnet's tagger is not documented as thread-safe

    def persons_many(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        with self._lock:
            markups = list(self._tagger.map(texts))
        return [[(s.start, s.stop) for s in m.spans if s.type == "PER"] for m in markups]


@lru_cache(maxsize=1)
def _ner() -> _Ner:
    return _Ner()


_TOKEN = re.compile(r"[\w\-]+")


_HOUSE_AFTER = re.compile(
    r"\s*,?\s*(?:(?i:д(?:ом)?)\.?\s*)?№?\s*\d{1,4}(?:\s?[а-яА-Я](?![а-яА-Я]))?(?:/\d+)?(?!\d|[.,]\d)"
)
_WHERE_BEFORE = re.compile(r"(?i:(?<![\w])(?:на|по|до|около|возле|напротив|вдоль|за|через|между)\s+)$")


def _may_hold_name(text: str) -> bool:
    """Worth the NER: a capitalised Russian word the dictionary knows as a first name or a surname.

    Most appeals hold none; the NER (the slow step) then never sees them.
    """
    return any(_grammemes(w) & {"Name", "Surn"} for w in _CYRILLIC_WORD.findall(text) if "[" not in w)


def _names_a_place(text: str, start: int, end: int) -> bool:
    """A street, a place or an institution named after a person: «ул. Карла Маркса», «им. Н.С. Короткова»,
    «памятник Пушкину», «Комарова 8А» (a house number follows)."""
    return (_NAMED_PLACE_BEFORE.search(text, max(0, start - 30), start) is not None
            or _HOUSE_AFTER.match(text, end) is not None)


def _keep_ner_span(text: str, start: int, end: int) -> bool:
    words = _TOKEN.findall(text[start:end])
    if not words or "[" in text[start:end] or _names_a_place(text, start, end):
        return False
    if len(words) == 1 and _WHERE_BEFORE.search(text, max(0, start - 12), start):
        return False  # «на Кулакова», «по Овечкина»: a surname alone after «на» or «по» is a street
    if len(words) == 1:
        # A first name alone («Сергей пришёл») identifies nobody; a surname alone may («диспетчер Новиков»).
        tags = _grammemes(words[0])
        return "Surn" in tags and "Name" not in tags
    return True


def _loose_initials(m: re.Match[str]) -> str:
    return NAME if "Surn" in _grammemes(m.group(1)) else m.group(0)


def _not_a_place(repl: Replacement) -> Callable[[re.Match[str]], str]:
    """`repl`, unless a street, place or «имени» comes right before («им. Н.С. Короткова», «пр-т В. Клыкова»)."""

    def check(m: re.Match[str]) -> str:
        if _NAMED_PLACE_BEFORE.search(m.string, max(0, m.start() - 30), m.start()):
            return m.group(0)
        return repl if isinstance(repl, str) else repl(m)

    return check


def _initial_surname(m: re.Match[str]) -> str:
    tags = _grammemes(m.group(1))
    return NAME if "Surn" in tags and "Name" not in tags else m.group(0)


def _role_surname(m: re.Match[str]) -> str:
    tags = _grammemes(m.group(1))
    if "Surn" not in tags or "Name" in tags:
        return m.group(0)
    return m.group(0)[: m.start(1) - m.start()] + NAME


def _surname_beside(m: re.Match[str]) -> str:
    return NAME if "Surn" in _grammemes(m.group(1)) else m.group(0)


def _name_pairs(text: str) -> list[tuple[int, int, str]]:
    """«Зекунова Лилия», «Тришин Андрей»: a first name and a surname side by side, by the dictionary.

    A finder, since candidate pairs overlap; pairs after a street or place word are names of places.
    """
    words = list(_CYRILLIC_WORD.finditer(text))
    pieces: list[tuple[int, int, str]] = []
    i = 0
    while i < len(words) - 1:
        a, b = words[i], words[i + 1]
        if text[a.end(): b.start()].strip() == "" and "\n" not in text[a.end(): b.start()]:
            ta, tb = _grammemes(a.group(0)), _grammemes(b.group(0))
            surname_first = "Surn" in ta and "Name" not in ta and "Name" in tb
            name_first = "Name" in ta and "Surn" in tb and "Name" not in tb
            if (surname_first or name_first) and not _NAMED_PLACE_BEFORE.search(text, max(0, a.start() - 30),
                                                                                 a.start()):
                pieces.append((a.start(), b.end(), NAME))
                i += 2
                continue
        i += 1
    return pieces


def _word_run(m: re.Match[str]) -> str:
    """«иванов иван иванович», «ПЕТРОВ ИВАН СЕРГЕЕВИЧ»: a first name and a patronymic, with the surnames beside."""
    # The patronymic is the strong sign; the first name may be a common word too («роман Владимирович»).
    if "Patr" not in _grammemes(m.group(3)) or not _any_name(m.group(2)):
        return m.group(0)
    start = m.start(1) if m.group(1) and "Surn" in _grammemes(m.group(1)) else m.start(2)
    end = m.end(4) if m.group(4) and "Surn" in _grammemes(m.group(4)) else m.end(3)
    text = m.group(0)
    return text[: start - m.start()] + NAME + text[end - m.start():]


def _latin_names(text: str) -> list[tuple[int, int, str]]:
    """Each capitalised word pair that starts with a known first name and is no place («John Smith»).

    A finder rather than a pattern: candidate pairs overlap («Called John Smith»), so each word is tried.
    """
    words = list(_LATIN_WORD.finditer(text))
    pieces: list[tuple[int, int, str]] = []
    i = 0
    while i < len(words) - 1:
        first, second = words[i], words[i + 1]
        adjacent = _LATIN_GAP.fullmatch(text, first.end(), second.start()) is not None
        if (adjacent and _first_names()(first.group(0)) in ("male", "female")
                and not _PLACE_AFTER.match(" " + first.group(0)) and not _PLACE_AFTER.match(" " + second.group(0))
                and not _PLACE_AFTER.match(text, second.end())
                and not _PLACE_BEFORE.search(text, max(0, first.start() - 12), first.start())):
            pieces.append((first.start(), second.end(), NAME))
            i += 2
            continue
        i += 1
    return pieces


def _latin_titled(m: re.Match[str]) -> str:
    return m.group(0)[: m.start(1) - m.start()] + NAME


_NAME_RULES: Final[tuple[_Rule, ...]] = (
    (_NAME, _not_a_place(NAME), ("вич", "вна", "вны", "вне", "вной", "вну", "ична", "ичны", "ичне", "ичной", "ьич",
                                 ".")),
    (_SURNAME_LOOSE_INITIALS, _not_a_place(_loose_initials), _ALWAYS),
    (_WORD_RUN, _word_run, ("вич", "вн", "ичн", "ьич")),
    (_INITIAL_SURNAME, _not_a_place(_initial_surname), (".",)),
    (_ROLE_SURNAME, _role_surname, ("жил", "сосед", "граждан", "директор", "начальни", "врач", "диспетчер",
                                    "водител", "учител", "руководител", "мастер", "инженер", "сотрудни",
                                    "председател", "заведующ", "фельдшер", "терапевт", "педиатр", "специалист",
                                    "г-н", "г-жа", "господ", "госпож", "ип", "сем", "фамили")),
    (_name_pairs, NAME, _ALWAYS),
    (_SURNAME_BESIDE, _surname_beside, _ALWAYS),
    (_LATIN_TITLED, _latin_titled, ("mr", "ms", "miss", "mx", "dr", "prof", "mayor", "senator", "council",
                                    "officer", "sgt", "det", "supt")),
    (_latin_names, NAME, _ALWAYS),
)
_TAIL_RULES: Final[tuple[_Rule, ...]] = ((_EN_APT_ALONE, ADDRESS, ("apt", "apartment", "suite")),)


# --- the engine: substitutions that remember where each placeholder came from --------------------------
@dataclass(frozen=True)
class PiiSpan:
    """A piece of personal data in the original text: `text[start:end]` of kind `kind` (a PII_PLACEHOLDERS key)."""

    start: int
    end: int
    kind: str


_KIND_OF: Final = {placeholder: kind for kind, placeholder in PII_PLACEHOLDERS.items()}


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class _Redaction:
    """A text under redaction: each character of the current text maps back to a range of the original."""

    def __init__(self, text: str, base: int = 0) -> None:
        self.text = text
        self.starts = list(range(base, base + len(text)))
        self.ends = [i + 1 for i in self.starts]
        self.found: list[PiiSpan] = []
        self.names: list[str] = []  # the original text of each name replaced, for other mentions of its surname

    def replace(self, pieces: list[tuple[int, int, str]]) -> None:
        """Replace non-overlapping `(start, end, new)` pieces of the current text (sorted by start)."""
        text, starts, ends = [], [], []
        last = 0
        for s, e, new in pieces:
            old = self.text[s:e]
            # Keep what the replacement leaves unchanged at either end («СНИЛС 123…» -> «СНИЛС [СНИЛС]»).
            head = _common_prefix(old, new)
            tail = _common_prefix(old[head:][::-1], new[head:][::-1])
            s2, e2, core = s + head, e - tail, new[head: len(new) - tail]
            text.append(self.text[last:s2])
            starts += self.starts[last:s2]
            ends += self.ends[last:s2]
            if e2 > s2:
                o_start, o_end = self.starts[s2], self.ends[e2 - 1]
                # A piece folded into a neighbouring placeholder («[ФИО] Степанов» -> «[ФИО]») keeps its kind.
                kind = next((k for p, k in _KIND_OF.items() if p in (core or new)), None)
                if kind is not None:
                    self.found.append(PiiSpan(o_start, o_end, kind))
                if kind == "name":
                    self.names.append(old)
                text.append(core)
                starts += [o_start] * len(core)
                ends += [o_end] * len(core)
            last = e2
        text.append(self.text[last:])
        starts += self.starts[last:]
        ends += self.ends[last:]
        self.text, self.starts, self.ends = "".join(text), starts, ends

    def sub(self, pattern: re.Pattern[str] | Finder, repl: Replacement) -> None:
        if not isinstance(pattern, re.Pattern):
            pieces = pattern(self.text)
            if pieces:
                self.replace(pieces)
            return
        pieces = []
        for m in pattern.finditer(self.text):
            new = repl if isinstance(repl, str) else repl(m)
            if new != m.group(0):
                pieces.append((m.start(), m.end(), new))
        if pieces:
            self.replace(pieces)

    def apply(self, rules: tuple[_Rule, ...], lowered: str) -> None:
        for pattern, repl, gate in rules:
            if not gate or any(g in lowered for g in gate):
                self.sub(pattern, repl)


def _redact_plain(part: _Redaction) -> None:
    """Every pattern rule, names included; the NER and other mentions of surnames come after (`_finish`)."""
    lowered = part.text.lower()
    part.apply(_TEXT_RULES, lowered)
    if _DIGIT.search(part.text):  # every number rule needs a digit: most short texts skip them all
        part.apply(_NUMBER_RULES, lowered)
    part.apply(_TAIL_RULES, lowered)
    part.apply(_NAME_RULES, lowered)


def _finish(part: _Redaction, persons: list[tuple[int, int]]) -> None:
    spans = [(s, e) for s, e in persons if _keep_ner_span(part.text, s, e)]
    if spans:
        part.replace([(s, e, NAME) for s, e in spans])
    if part.names:
        part.sub(*_same_surnames(part.names))


def _same_surnames(names: list[str]) -> tuple[re.Pattern[str], Replacement]:
    """A rule for the other mentions of the surnames of names already found («… Сапрановой Н.А … от Сапрановой»)."""
    stems = set()
    for name in names:
        for word in _CYRILLIC_WORD.findall(name):
            tags = _grammemes(word)
            if len(word) >= 5 and not tags & {"Name", "Patr"} and not re.fullmatch(_NOT_SURNAME, word):
                stems.add(re.escape(word[: len(word) - 2]))
    if not stems:
        return _NEVER, NAME
    pattern = re.compile(r"(?<![\w\-])(?:" + "|".join(sorted(stems)) + r")[а-яё]{0,4}(?![\w\-])")
    return pattern, lambda m: m.group(0) if _names_a_place(m.string, m.start(), m.end()) else NAME


_NEVER = re.compile(r"(?!)")


def _split(text: str) -> list[_Redaction]:
    """The text cut into plain parts and links (alternating, plain first and last); links redacted here."""
    parts: list[_Redaction] = []
    last = 0
    for m in _URL.finditer(text) if ("://" in text or "www." in text or "vk.com" in text) else ():
        parts.append(_Redaction(text[last: m.start()], last))
        link = _Redaction(m.group(0), m.start())
        link.apply(_URL_RULES, m.group(0).lower())
        parts.append(link)
        last = m.end()
    parts.append(_Redaction(text[last:], last))
    for part in parts[::2]:
        _redact_plain(part)
    return parts


def _redact_many(texts: list[str], ner: bool) -> list[list[_Redaction]]:
    split = [_split(t) if t else [] for t in texts]
    plain = [part for parts in split for part in parts[::2]]
    asked = [part for part in plain if ner and _may_hold_name(part.text)]
    persons = dict(zip(map(id, asked), _ner().persons_many([p.text for p in asked]) if asked else [], strict=True))
    for part in plain:
        _finish(part, persons.get(id(part), []))
    return split


def pii_spans(text: str, ner: bool = True) -> list[PiiSpan]:
    """Where `redact_pii` finds personal data in `text`, as spans of the original text, in order."""
    return pii_spans_many([text], ner)[0]


def pii_spans_many(texts: list[str], ner: bool = True) -> list[list[PiiSpan]]:
    """`pii_spans` of each text, the NER run over them in batches."""
    return [sorted((s for part in parts for s in part.found), key=lambda s: (s.start, s.end))
            for parts in _redact_many(list(texts), ner)]


def redact_many(texts: list[str], ner: bool = True) -> list[str]:
    """`redact_pii` of each text, the NER run over them in batches (use it for a file or a request of rows)."""
    return ["".join(part.text for part in parts) if parts else text
            for text, parts in zip(texts, _redact_many(list(texts), ner), strict=True)]


def redact_pii(text: str, ner: bool = True) -> str:
    """Return `text` with phones, e-mails, identity numbers, cards, addresses, profile links and names replaced.

    `ner=False` skips the named-entity model (names are then found by the patterns only). See the module
    docstring for the rules and their order; for many texts at once `redact_many` is faster.
    """
    return redact_many([text], ner)[0]
