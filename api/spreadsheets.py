"""`.xlsx` answers (openpyxl): the forecast shown and the staffing table with Russian headers and number formats.

The numbers are the CSV's, unrounded; only their display is formatted. A text starting with `=` (which openpyxl
would store as a formula) is stored as a string cell, so no planner's or citizen's text is ever evaluated.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

__all__ = ["FORECAST_COLUMNS", "STAFFING_COLUMNS", "XLSX_MEDIA", "SheetColumn", "to_xlsx"]

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "DD.MM.YYYY"
COUNT_FORMAT = "#,##0.0"
INTEGER_FORMAT = "#,##0"


@dataclass(frozen=True)
class SheetColumn:
    """One column of a sheet: the frame's column, its Russian header and its number format."""

    column: str
    header: str
    number_format: str | None = None
    width: int = 14


FORECAST_COLUMNS = (
    SheetColumn("service_name", "Услуга", width=34),
    SheetColumn("segment_name", "Сегмент", width=22),
    SheetColumn("region_name", "Регион", width=20),
    SheetColumn("date", "Дата", DATE_FORMAT, 12),
    SheetColumn("p10", "Нижняя граница (p10)", COUNT_FORMAT),
    SheetColumn("p50", "Медиана (p50)", COUNT_FORMAT),
    SheetColumn("p90", "Верхняя граница (p90)", COUNT_FORMAT),
    SheetColumn("mean", "Ожидаемое значение", COUNT_FORMAT),
    SheetColumn("service", "Код услуги", width=24),
    SheetColumn("segment", "Код сегмента", width=16),
    SheetColumn("region", "Код региона", width=14),
)

STAFFING_COLUMNS = (
    SheetColumn("service_name", "Услуга", width=34),
    SheetColumn("region_name", "Регион", width=20),
    SheetColumn("date", "Дата", DATE_FORMAT, 12),
    SheetColumn("p50", "Обращений, медиана (p50)", COUNT_FORMAT),
    SheetColumn("p90", "Обращений, p90", COUNT_FORMAT),
    SheetColumn("handle_minutes", "Минут на обращение", COUNT_FORMAT),
    SheetColumn("windows", "Окон нужно", INTEGER_FORMAT),
    SheetColumn("expected_wait_minutes", "Ожидание, мин", COUNT_FORMAT),
    SheetColumn("service", "Код услуги", width=24),
    SheetColumn("region", "Код региона", width=14),
)


def _cell_value(value: object) -> object:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime().date()
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return value


def to_xlsx(frame: pd.DataFrame, columns: Sequence[SheetColumn], title: str, note: str | None = None) -> bytes:
    """One sheet named `title`: a bold header row, then the rows of `frame` in `columns`' order."""
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    present = [c for c in columns if c.column in frame.columns]
    sheet.append([c.header for c in present])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in frame[[c.column for c in present]].itertuples(index=False):
        sheet.append([_cell_value(v) for v in row])
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":  # a text that looks like a formula stays text
                cell.data_type = "s"
    for index, column in enumerate(present, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        if column.number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = column.number_format
    sheet.freeze_panes = "A2"
    if note:
        info = book.create_sheet("Источник")
        info.append(["needcast"])
        info.append([note])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
