"""Human names of services, segments and regions in Russian and English, falling back to the code.

Services have one `name` (the catalogue's, in whatever language it was written): it serves both languages.
Segments and regions have `name_ru` and `name_en`; a missing one falls back to the other, then to the code.
A name may also be given where a code is expected (`code_of`), so a planner can filter by what they read.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from store import tables

__all__ = ["KEYS", "LANGS", "Names", "NamesCache", "load_names"]

LANGS = ("ru", "en")
KEYS = ("service", "segment", "region")


@dataclass(frozen=True)
class Names:
    """code -> {lang: name} per key (service, segment, region), and each region's parent."""

    names: dict[str, dict[str, dict[str, str]]] = field(default_factory=lambda: {k: {} for k in KEYS})
    parents: dict[str, str] = field(default_factory=dict)

    def name(self, key: str, code: str | None, lang: str = "ru") -> str | None:
        """The name of `code` in `lang`, else in the other language, else the code itself."""
        if code is None:
            return None
        by_lang = self.names[key].get(code)
        if not by_lang:
            return code
        return by_lang.get(lang) or next((v for v in by_lang.values() if v), code)

    def code_of(self, key: str, value: str | None) -> str | None:
        """`value` if it is a code (or unknown); the code whose name in either language is `value` otherwise."""
        if value is None or value in self.names[key]:
            return value
        folded = value.casefold()
        for code, by_lang in self.names[key].items():
            if any(n and n.casefold() == folded for n in by_lang.values()):
                return code
        return value

    def label(self, item: dict, lang: str = "ru") -> dict:
        """`item` with `<key>_name` next to each of its codes (`*`, an aggregate, keeps `*`)."""
        out = dict(item)
        for key in KEYS:
            if key in item:
                code = item[key]
                out[f"{key}_name"] = code if code == "*" else self.name(key, code, lang)
        return out

    def catalogue(self, key: str, lang: str = "ru") -> list[dict]:
        """Every catalogued code of `key` with its name in `lang` and in both languages."""
        rows = []
        for code, by_lang in sorted(self.names[key].items()):
            row = {key: code, "name": self.name(key, code, lang), "name_ru": by_lang.get("ru"),
                   "name_en": by_lang.get("en")}
            if key == "region":
                row["parent"] = self.parents.get(code)
            rows.append(row)
        return rows


def load_names(engine: Engine) -> Names:
    """The three catalogues as one `Names`."""
    s, g, r = tables.services, tables.segment_names, tables.region_names
    with engine.connect() as conn:
        services = conn.execute(select(s.c.service, s.c.name)).all()
        segments = conn.execute(select(g.c.segment, g.c.name_ru, g.c.name_en)).all()
        regions = conn.execute(select(r.c.region, r.c.name_ru, r.c.name_en, r.c.parent)).all()
    return Names(
        names={
            "service": {code: {"ru": name, "en": name} for code, name in services},
            "segment": {code: {"ru": ru, "en": en} for code, ru, en in segments},
            "region": {code: {"ru": ru, "en": en} for code, ru, en, _ in regions},
        },
        parents={code: parent for code, _, _, parent in regions if parent},
    )


@dataclass
class NamesCache:
    """The catalogues of one process, re-read at most every `ttl_s` seconds (they change rarely).

    `version` grows only when the names changed, so cached answers that carry names can key on it.
    """

    engine: Engine
    ttl_s: float = 10.0
    version: int = 0
    _names: Names | None = None
    _loaded: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> Names:
        with self._lock:
            now = time.monotonic()
            if self._names is None or now - self._loaded >= self.ttl_s:
                fresh, self._loaded = load_names(self.engine), now
                if fresh != self._names:
                    self._names, self.version = fresh, self.version + 1
            return self._names
