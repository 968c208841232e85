"""Keep a DataTable in step with fresh rows without losing the user's cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def sync_rows(table: DataTable[Any], rows: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Show `rows` (key, cells) in order. Cells update in place when the keys are the same
    as before, so a refresh every half second neither flickers nor moves the cursor."""
    keys = [k for k, _ in rows]
    current = [str(k.value) for k in table.rows]
    columns = list(table.columns)
    if keys == current:
        for key, cells in rows:
            for col, cell in zip(columns, cells, strict=False):
                if table.get_cell(key, col) != cell:
                    # A narrower cell would make Textual measure its whole column again.
                    wider = cell_width(cell) > table.columns[col].content_width
                    table.update_cell(key, col, cell, update_width=wider)
        return
    selected = selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected in keys:
        table.move_cursor(row=keys.index(selected), animate=False)


def cell_width(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))


def selected_key(table: DataTable[Any]) -> str | None:
    if not table.row_count:
        return None
    try:
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    except Exception:  # noqa: BLE001 - a cursor past the end after a clear means "none"
        return None
    return str(key.value) if key.value is not None else None
