"""Names of the generated worlds' segments and regions in Russian and English (`segments.csv`, `regions.csv`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

__all__ = ["REGION_NAMES", "SEGMENT_NAMES", "write_catalogues"]

SEGMENT_NAMES = {
    "pensioners": ("Пенсионеры", "Pensioners"),
    "youth": ("Молодёжь", "Young people"),
    "families": ("Семьи с детьми", "Families with children"),
    "business": ("Предприниматели", "Business owners"),
    "students": ("Студенты", "Students"),
    "disabled": ("Люди с инвалидностью", "People with disabilities"),
    "seniors": ("Старшее поколение", "Seniors"),
    "parents": ("Родители школьников", "Parents of schoolchildren"),
    "commuters": ("Жители, ездящие на работу", "Commuters"),
    "rural": ("Сельские жители", "Rural residents"),
}

REGION_NAMES = {  # region: (name_ru, name_en, parent)
    "oblast": ("Область", "The region as a whole", None),
    "center": ("Центральный округ", "Central district", "oblast"),
    "north": ("Северный округ", "Northern district", "oblast"),
    "south": ("Южный округ", "Southern district", "oblast"),
    "municipality": ("Муниципальный округ", "The municipality", None),
    "city": ("Город", "City", "municipality"),
    "east": ("Восточный район", "Eastern area", "municipality"),
    "west": ("Западный район", "Western area", "municipality"),
}


def write_catalogues(out_dir: Path, segments: Iterable[str], regions: Iterable[str]) -> tuple[Path, Path]:
    """Write `segments.csv` and `regions.csv` for the given codes and their parents (a code without a name
    keeps the code)."""
    out_dir = Path(out_dir)
    regions = list(regions)
    regions += sorted({REGION_NAMES[r][2] for r in regions if r in REGION_NAMES and REGION_NAMES[r][2]})
    seg = pd.DataFrame([(s, *SEGMENT_NAMES.get(s, (s, s))) for s in segments],
                       columns=["segment", "name_ru", "name_en"])
    reg = pd.DataFrame([(r, *REGION_NAMES.get(r, (r, r, None))) for r in regions],
                       columns=["region", "name_ru", "name_en", "parent"])
    paths = out_dir / "segments.csv", out_dir / "regions.csv"
    seg.to_csv(paths[0], index=False)
    reg.to_csv(paths[1], index=False)
    return paths
