"""Report building blocks shared by every benchmark: sections, Markdown tables, statistics."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


@dataclass
class Section:
    """One benchmark's output: a title and Markdown lines (prose, tables, notes)."""

    title: str
    lines: list[str] = field(default_factory=list)
    # (target, figure, verdict) for the summary at the top of the report.
    targets: list[tuple[str, str, str]] = field(default_factory=list)

    def target(self, name: str, figure: str, met: bool) -> None:
        self.targets.append((name, figure, verdict(met)))

    def text(self, line: str = "") -> None:
        self.lines.append(line)

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        """A Markdown table; readable as plain text on a terminal too."""
        body = [[_cell(v) for v in row] for row in rows]
        widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
        self.lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
        self.lines.append("| " + " | ".join("-" * w for w in widths) + " |")
        for row in body:
            self.lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        self.lines.append("")

    def markdown(self) -> str:
        return "\n".join([f"## {self.title}", "", *self.lines]).rstrip() + "\n"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def fmt(value: float, digits: int = 3) -> str:
    """A number with `digits` significant figures, without scientific notation for usual sizes."""
    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0-100): a value that actually occurred."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values)) if values else math.nan


def ratio(numerator: float, denominator: float) -> str:
    if denominator == 0 or not math.isfinite(denominator) or not math.isfinite(numerator):
        return "n/a"
    return f"{numerator / denominator:.2f}x"


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def mib(size: float) -> str:
    return f"{size / 2**20:.1f} MiB"
