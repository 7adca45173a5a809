"""Shared pieces of the benchmarks: timing statistics and the results table."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    figure: str
    value: float
    baseline: float
    unit: str
    goal: str  # e.g. "<= 1.5x" or ">= 10x"
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    @property
    def met(self) -> bool:
        bound = float(self.goal.split()[1].rstrip("x"))
        return self.ratio <= bound if self.goal.startswith("<=") else self.ratio >= bound


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def table(rows: list[Row]) -> str:
    lines = ["| figure | value | baseline | ratio | goal | met |", "| --- | ---: | ---: | ---: | --- | --- |"]
    for row in rows:
        lines.append(
            f"| {row.figure} | {row.value:,.3g} {row.unit} | {row.baseline:,.3g} {row.unit} | "
            f"{row.ratio:.2f}x | {row.goal} | {'yes' if row.met else 'NO'} |"
        )
    return "\n".join(lines)
