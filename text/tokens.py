"""Tokens of feedback texts for keyword labels: Russian lemmas (pymorphy3), English lowercase words.

Placeholders left by redaction (`[ТЕЛЕФОН]`, `[EMAIL]`), numbers, 1-2 letter tokens and stop words of
both languages are dropped. Bigrams join two content words that are adjacent in the text, allowing a
preposition or «не» between them («запись к врачу»), never across punctuation. Their display form
reads as Russian: «запись к врачу», «ошибка портала», «электронная очередь» (the adjective agrees with
the noun), while their key is the lemma pair, so inflected variants count together.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

import pymorphy3
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

__all__ = ["RUSSIAN_STOP_WORDS", "STOP_WORDS", "Bigram", "Token", "bigrams", "content_tokens", "lemmas"]

# Function words, pronouns, politeness formulas and filler verbs of appeals: they say nothing of the topic.
_RUSSIAN_STOP_TEXT = """
а без более бы был была были было быть в вам вас весь во вот все всё всего всех вы где да даже для до его
ее её ей ему если есть еще ещё же за здесь и из или им их к как какой кем когда кого который кто куда ли
либо лишь между меня мне много может можно мой мы на над надо наш не него нее неё нет ни них но ну о об
однако он она они оно от очень по под после потом почему при про раз с сам свой себя сейчас со так также
такой там те тем то тогда того тоже только том тот ту тут у уже хотя чего чей чем через что чтобы чуть эта
эти это этот я ни уж вообще именно просто ещё который какой-то кто-то что-то где-то либо нибудь весь
здравствуйте здравствовать добрый день вечер утро уважаемый спасибо благодарить пожалуйста прошу просить
помочь помогите подсказать сказать сообщить данный являться иметь свой каждый другой другом этот тот самый
год месяц неделя раз время сегодня вчера завтра мочь хотеть нужно нельзя ваш
"""
RUSSIAN_STOP_WORDS = frozenset(_RUSSIAN_STOP_TEXT.split())

STOP_WORDS = RUSSIAN_STOP_WORDS | ENGLISH_STOP_WORDS

_PLACEHOLDER = re.compile(r"\[[A-ZА-ЯЁ_ ]+\]")
# Words (with inner hyphens) and single punctuation marks; whitespace is what lies between matches.
_WORD_OR_PUNCT = re.compile(r"[A-Za-zА-Яа-яЁё]+(?:-[A-Za-zА-Яа-яЁё]+)*|\d+|[^\w\s]")
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
_ADJECTIVE = {"ADJF", "PRTF"}
_NUMERAL = {"NUMR", "NUMB"}
# pymorphy3 lemmatises some plural-only nouns to a singular nobody says.
_LEMMA_FIXES = {"деньга": "деньги", "сутка": "сутки", "ворот": "ворота"}

_morph = pymorphy3.MorphAnalyzer()


class Token(NamedTuple):
    """A word: its lemma (the key), its lowercase form in the text, its part of speech, and if a stop word."""

    lemma: str
    form: str
    pos: str | None
    stop: bool = False


class Bigram(NamedTuple):
    """Two adjacent content words: `key` is the lemma pair, `display` a readable Russian or English phrase."""

    key: str
    display: str


@lru_cache(maxsize=200_000)
def _parse(form: str) -> tuple[str, str | None, str | None]:
    """Lemma, part of speech and gender of a lowercase word form (cached: pymorphy3 is slow per call)."""
    if not _CYRILLIC.search(form):
        return form, None, None
    p = _morph.parse(form)[0]
    pos, gender = p.tag.POS, p.tag.gender
    lemma = p.normal_form.replace("ё", "е")
    return _LEMMA_FIXES.get(lemma, lemma), pos and str(pos), gender and str(gender)


@lru_cache(maxsize=50_000)
def _agree(adjective: str, noun_lemma: str) -> str:
    """The adjective as nominative singular in the noun's gender («электронный», «очередь»: «электронная»)."""
    _, _, gender = _parse(noun_lemma)
    parsed = _morph.parse(adjective)[0]
    inflected = parsed.inflect({"nomn", "sing", gender}) if gender else None
    return inflected.word if inflected else parsed.normal_form


def _pieces(text: str) -> list[Token | None]:
    """Content tokens in text order, with None marking punctuation (a bigram boundary)."""
    out: list[Token | None] = []
    stop_run = 0
    for match in _WORD_OR_PUNCT.finditer(_PLACEHOLDER.sub(" . ", text)):
        raw = match.group().lower()
        if not raw[0].isalpha():
            out.append(None)  # punctuation or a number breaks a phrase
            stop_run = 0
            continue
        lemma, pos, _ = _parse(raw)
        if len(raw) < 3 or len(lemma) < 3 or lemma in STOP_WORDS or raw in STOP_WORDS or pos in _NUMERAL:
            stop_run += 1
            if stop_run > 1:  # two function words in a row: the phrase is broken
                out.append(None)
            out.append(Token(lemma, raw, pos, stop=True))
            continue
        stop_run = 0
        out.append(Token(lemma, raw, pos))
    return out


def content_tokens(text: str) -> list[Token]:
    """The content words of `text` in order."""
    return [t for t in _pieces(text) if t is not None and not t.stop]


def lemmas(text: str) -> list[str]:
    """Lemmas of the content words of `text` (Russian normal forms, English lowercase)."""
    return [t.lemma for t in content_tokens(text)]


def _display(first: Token, gap: str, second: Token) -> str:
    if first.pos in _ADJECTIVE and second.pos == "NOUN" and not gap:
        return f"{_agree(first.form, second.lemma)} {second.lemma}"
    # A noun's lemma is its nominative: «запись к врачу»; other heads read best as written («не работает»).
    head = first.lemma if first.pos == "NOUN" else first.form
    return " ".join(part for part in (head, gap, second.form) if part)


def bigrams(text: str) -> list[Bigram]:
    """Adjacent content-word pairs, allowing a preposition or «не» between them, never crossing punctuation.

    A pair ending in an adjective is left out: the phrase goes on («остановка общественного …»).
    """
    pieces = _pieces(text)
    out: list[Bigram] = []
    for i, first in enumerate(pieces):
        if first is None or first.stop:
            continue
        j, gap = i + 1, ""
        if j < len(pieces) and pieces[j] is not None and pieces[j].stop:
            if pieces[j].pos != "PREP" and pieces[j].form != "не":
                continue  # «бурьян и помойка» is two things, not one phrase
            gap, j = pieces[j].form, j + 1
        second = pieces[j] if j < len(pieces) else None
        if second is not None and not second.stop and second.pos not in _ADJECTIVE:
            out.append(Bigram(f"{first.lemma} {second.lemma}", _display(first, gap, second)))
    return out
