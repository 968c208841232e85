"""A keyed, virtualised table for thousands of live rows, as k9s draws its lists.

Textual's DataTable keys every render cache on one update counter, so changing any cell
(an AGE ticking, a pod turning Ready) throws away the rendering of every row, and adding
a row sorts and measures the whole table again. A rollout of hundreds of Deployments
changes rows several times a second, and the table spent its time redrawing what had not
changed. Here:

- each row is drawn once per content (its strip is cached under its own version), and a
  change repaints that row's line only, and only when it is on screen;
- only the lines in the window are ever drawn (a Line API widget: `render_line`), so
  rows out of sight cost a dictionary write when they change;
- rows are kept in order by insertion (bisect), never by sorting the table again;
- zebra stripes and the cursor are styles laid over the cached strip when a line is
  drawn, so moving the cursor or inserting a row above redraws no cell.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cells = tuple[Any, ...]
PADDING = 1  # spaces either side of a cell, as DataTable draws them


def as_text(cell: Any) -> Text:
    return cell if isinstance(cell, Text) else Text(str(cell))


class RowTable(ScrollView, can_focus=True):
    """Rows of cells under a fixed header, each row under a string key, kept in the
    order `order(cells)` gives; one row is the cursor's."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "cursor_home", "First", show=False),
        Binding("end", "cursor_end", "Last", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rowtable--header", "rowtable--cursor", "rowtable--even-row"}
    # DataTable's look, so this table sits with the others unnoticed.
    DEFAULT_CSS = """
    RowTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .rowtable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        & > .rowtable--header { text-style: bold; background: $panel; color: $foreground; }
        & > .rowtable--even-row { background: $surface-lighten-1 50%; }
        & > .rowtable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    def __init__(self, columns: Sequence[str], order: Callable[[Cells], Any],
                 order_columns: int | None = None, **kwargs: Any) -> None:
        """`order_columns`: a row's place depends on its first cells only, so a change
        in the others never moves it (None: any cell may)."""
        super().__init__(**kwargs)
        self.column_labels = tuple(columns)
        self._order = order
        self._order_columns = len(columns) if order_columns is None else order_columns
        self._keys: list[str] = []  # on screen, in order
        self._sort_keys: list[Any] = []  # order(cells) of each, for bisect
        self._index: dict[str, int] = {}
        self._cells: dict[str, Cells] = {}
        self._versions: dict[str, int] = {}
        self._widths = [len(label) for label in self.column_labels]
        self._strips: dict[str, tuple[tuple[int, tuple[int, ...]], Strip]] = {}
        self._header: tuple[tuple[int, ...], Strip] | None = None
        self._cursor = 0
        # What was drawn, for the tests that hold this table to drawing only what changed.
        self.rows_drawn: Counter[str] = Counter()
        self.lines_composed = 0

    # -- reading ------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def ordered_keys(self) -> list[str]:
        return list(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def get_row(self, key: str) -> list[Any]:
        return list(self._cells[key])

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    def column_values(self, label: str) -> list[Any]:
        at = self.column_labels.index(label)
        return [self._cells[key][at] for key in self._keys]

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def selected_key(self) -> str | None:
        return self._keys[self._cursor] if self._keys else None

    # -- writing ------------------------------------------------------------------
    def replace_rows(self, rows: Iterable[tuple[str, Cells]]) -> None:
        """Every row anew (the first data, a new filter); the cursor stays on its key."""
        selected = self.selected_key
        self._cells = dict(rows)
        self._keys = sorted(self._cells, key=lambda k: self._order(self._cells[k]))
        self._sort_keys = [self._order(self._cells[k]) for k in self._keys]
        self._versions = {k: self._versions.get(k, 0) + 1 for k in self._keys}
        self._widths = [len(label) for label in self.column_labels]
        self._grow_widths(self._cells.values())
        self._strips.clear()
        self._reindex()
        self._cursor = self._index.get(selected or "", min(self._cursor,
                                                               max(0, len(self._keys) - 1)))
        self._resized()
        self.refresh()

    def patch(self, changed: dict[str, Cells], removed: Iterable[str] = ()) -> int:
        """Apply one batch: rows whose cells changed, new rows, rows gone. Lines on screen
        that changed are repainted; the rest of the window is left alone unless rows
        came or went. Returns how many cells changed in rows already shown."""
        selected, at = self.selected_key, self._cursor
        index, order, versions = self._index, self._order, self._versions
        gone = {k for k in removed if k in index}
        touched: list[int] = []
        added: list[str] = []
        widths, widened = self._widths, False
        cells_changed = 0
        for key, cells in changed.items():
            old = self._cells.get(key) if key in index and key not in gone else None
            if old is None:
                added.append(key)
                widened |= self._grow_widths((cells,))
            else:
                diff = [i for i, (a, b) in enumerate(zip(old, cells, strict=True))
                        if a is not b and a != b]
                if not diff:
                    continue
                cells_changed += len(diff)
                if diff[0] < self._order_columns and order(old) != order(cells):
                    gone.add(key)  # it moves: out, and in again
                    added.append(key)
                else:
                    touched.append(index[key])
                for i in diff:  # only the cells that changed are measured
                    cell = cells[i]
                    width = cell.cell_len if isinstance(cell, Text) else len(str(cell))
                    if width > widths[i]:
                        widths[i], widened = width, True
            self._cells[key] = cells
            versions[key] = versions.get(key, 0) + 1
        if widened:
            self._header = None
        if gone or added:
            self._remove(gone, keep=set(added))
            for key in added:
                sort_key = order(self._cells[key])
                at_index = bisect.bisect_left(self._sort_keys, sort_key)
                self._keys.insert(at_index, key)
                self._sort_keys.insert(at_index, sort_key)
            self._reindex()
            fallback = min(at, max(0, len(self._keys) - 1))
            self._cursor = self._index.get(selected, fallback) if selected else fallback
            self._resized()
            self.refresh()  # lines below an insertion move: the window is redrawn, cheaply
            if self._cursor != at:
                self._scroll_to_cursor()
        elif widened:
            self._resized()
            self.refresh()
        elif touched:
            top, height = round(self.scroll_y), self.size.height
            for row in touched:  # on screen: its line; out of sight: nothing
                if 1 <= row + 1 - top < height:
                    self.refresh(Region(0, row + 1 - top, self.size.width, 1))
        return cells_changed

    def _remove(self, keys: set[str], keep: set[str]) -> None:
        if not keys:
            return
        kept = [(k, s) for k, s in zip(self._keys, self._sort_keys, strict=True)
                if k not in keys]
        self._keys = [k for k, _ in kept]
        self._sort_keys = [s for _, s in kept]
        for key in keys - keep:
            self._cells.pop(key, None)
            self._versions.pop(key, None)
            self._strips.pop(key, None)

    def _reindex(self) -> None:
        self._index = {key: i for i, key in enumerate(self._keys)}

    def _grow_widths(self, rows: Iterable[Cells]) -> bool:
        """Columns only grow, as the eye expects of a live list; True when one did."""
        widths = self._widths
        grew = False
        for cells in rows:
            for i, cell in enumerate(cells):
                width = cell.cell_len if isinstance(cell, Text) else len(str(cell))
                if width > widths[i]:
                    widths[i], grew = width, True
        if grew:
            self._header = None
        return grew

    def _resized(self) -> None:
        width = sum(w + 2 * PADDING for w in self._widths)
        size = Size(width, len(self._keys) + 1)  # the header is the first line
        if size != self.virtual_size:
            self.virtual_size = size

    # -- cursor -------------------------------------------------------------------
    def move_cursor(self, row: int, animate: bool = False) -> None:
        if not self._keys:
            return
        row = max(0, min(row, len(self._keys) - 1))
        if row == self._cursor:
            return
        old, self._cursor = self._cursor, row
        self._refresh_line(old)
        self._refresh_line(row)
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)
        top = round(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self._cursor - max(1, self.scrollable_content_region.height - 1))

    def action_page_down(self) -> None:
        self.move_cursor(self._cursor + max(1, self.scrollable_content_region.height - 1))

    def action_cursor_home(self) -> None:
        self.move_cursor(0)

    def action_cursor_end(self) -> None:
        self.move_cursor(len(self._keys) - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y >= 1:
            self.move_cursor(offset.y - 1 + round(self.scroll_y))

    def on_focus(self) -> None:
        self._refresh_line(self._cursor)

    def on_blur(self) -> None:
        self._refresh_line(self._cursor)

    # -- drawing ------------------------------------------------------------------
    def _refresh_line(self, index: int) -> None:
        """Repaint one row's line, if it is in the window at all."""
        y = index + 1 - round(self.scroll_y)
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._header = None  # the cached strips carry no table style; the header does

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = round(self.scroll_x)
        if y == 0:
            strip = self._header_strip()
        else:
            index = y - 1 + round(self.scroll_y)
            if index >= len(self._keys):
                return Strip.blank(width, self.rich_style)
            self.lines_composed += 1
            strip = self._row_strip(self._keys[index])
            if index == self._cursor:
                strip = strip.apply_style(self.get_component_rich_style("rowtable--cursor"))
            elif index % 2:
                strip = strip.apply_style(self.get_component_rich_style("rowtable--even-row"))
            strip = strip.apply_style(self.rich_style)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _header_strip(self) -> Strip:
        widths = tuple(self._widths)
        if self._header is None or self._header[0] != widths:
            style = self.get_component_rich_style("rowtable--header")
            strip = self._draw([Text(label) for label in self.column_labels], widths)
            self._header = (widths, strip.apply_style(style))
        return self._header[1]

    def _row_strip(self, key: str) -> Strip:
        stamp = (self._versions.get(key, 0), tuple(self._widths))
        cached = self._strips.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        self.rows_drawn[key] += 1
        strip = self._draw([as_text(c) for c in self._cells[key]], stamp[1])
        self._strips[key] = (stamp, strip)
        return strip

    def _draw(self, texts: list[Text], widths: Sequence[int]) -> Strip:
        line = Text(no_wrap=True, end="")
        pad = " " * PADDING
        for text, width in zip(texts, widths, strict=True):
            cell = text.copy()
            cell.truncate(width, overflow="ellipsis", pad=True)
            line.append(pad)
            line.append_text(cell)
            line.append(pad)
        segments = list(line.render(self.app.console))
        total = sum(w + 2 * PADDING for w in widths)
        return Strip(Segment.simplify(segments), total)

