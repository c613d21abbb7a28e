"""What a demo run did, for the command's output and its "nothing changed"."""

from __future__ import annotations

from collections.abc import Callable


class DemoLog:
    """Counts the rows a run created or changed and tells the command's output."""

    def __init__(self, write: Callable[[str], object]) -> None:
        self.write = write
        self.changes = 0

    def created(self, what: str) -> None:
        self.changes += 1
        self.write(f"  {what}")

    def note(self, what: str) -> None:
        """Something left out (a refusal the demo works around), not a change."""
        self.write(f"  note: {what}")
