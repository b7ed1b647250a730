"""The clerical-review policy as data: ``rules/review/review.yaml`` -> :class:`ReviewPolicy`.

Strict like the quota policy: an unknown or malformed key raises :class:`ReviewPolicyError` naming
the key, so a typo never falls back silently to a default.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rules.errors import UserError

DEFAULT_REVIEW_POLICY = Path(__file__).parent / "review.yaml"
LEVEL_CLASSES = ("agree", "close", "weak", "disagree")


class ReviewPolicyError(UserError, ValueError):
    """A review policy value is unusable; the message names the key and what to write."""


@dataclass(frozen=True)
class ReviewPolicy:
    """Label blending strength, precision band, what-if thresholds and workbook colour classes."""

    prior_strength: float = 50.0
    precision_band: tuple[float, float] = (0.9, 1.0)
    what_if_thresholds: tuple[float, ...] = (0.95, 0.9, 0.8, 0.7, 0.6)
    score_bins: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
    level_classes: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def level_class(self, level: str) -> str:
        """``agree`` | ``close`` | ``weak`` | ``disagree`` | ``missing`` | ``partial`` for a level label."""
        if level == "missing":
            return "missing"
        for name, levels in self.level_classes:
            if level in levels:
                return name
        return "partial"

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> ReviewPolicy:
        source = Path(path) if path else DEFAULT_REVIEW_POLICY
        try:
            data = yaml.safe_load(source.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ReviewPolicyError(f"{source}: not valid YAML ({exc})") from None
        return cls.from_dict(data, str(source))

    @classmethod
    def from_dict(cls, data: Any, source: str = "review policy") -> ReviewPolicy:
        if not isinstance(data, dict):
            raise ReviewPolicyError(f"{source}: expected a YAML mapping")
        known = {"prior_strength", "precision_band", "what_if_thresholds", "score_bins", "level_classes"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ReviewPolicyError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        k = data.get("prior_strength", 50)
        if not _number(k) or k < 0:
            raise ReviewPolicyError(f"{source}: `prior_strength` must be a number >= 0 (got {k!r})")
        band = data.get("precision_band", [0.9, 1.0])
        if not (isinstance(band, list) and len(band) == 2 and all(_probability(b) for b in band) and band[0] < band[1]):
            raise ReviewPolicyError(f"{source}: `precision_band` must be [low, high] with 0 <= low < high <= 1")
        thresholds = data.get("what_if_thresholds", [])
        if not (isinstance(thresholds, list) and all(_probability(t) for t in thresholds)):
            raise ReviewPolicyError(f"{source}: `what_if_thresholds` must be a list of probabilities")
        bins = data.get("score_bins", [])
        if not (isinstance(bins, list) and len(bins) >= 2 and all(_probability(b) for b in bins)
                and all(a < b for a, b in itertools.pairwise(bins))):
            raise ReviewPolicyError(f"{source}: `score_bins` must be an increasing list of probabilities")
        classes = data.get("level_classes", {})
        if not isinstance(classes, dict) or set(classes) - set(LEVEL_CLASSES):
            raise ReviewPolicyError(f"{source}: `level_classes` keys must be among {', '.join(LEVEL_CLASSES)}")
        return cls(
            prior_strength=float(k),
            precision_band=(float(band[0]), float(band[1])),
            what_if_thresholds=tuple(sorted((float(t) for t in thresholds), reverse=True)),
            score_bins=tuple(float(b) for b in bins),
            level_classes=tuple((name, tuple(str(v) for v in (classes.get(name) or ()))) for name in LEVEL_CLASSES),
        )


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _probability(v: Any) -> bool:
    return _number(v) and 0.0 <= v <= 1.0
