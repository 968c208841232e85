"""The one exception every HLD problem surfaces as, so callers can show file, line and fix."""

from __future__ import annotations


class HldError(Exception):
    """A problem in a high-level definition, located as precisely as the input allows.

    ``file`` is relative to the HLD folder when the file lives inside it; ``line`` is 1-based
    or ``None`` when the source gives none; ``fix`` tells the user what to change.
    """

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, fix: str = ""
    ) -> None:
        self.reason = message
        self.file = file
        self.line = line
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        text = where + self.reason
        if self.fix:
            text += f" ({self.fix})"
        return text
