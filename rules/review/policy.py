"""The clerical-review policy as data: ``rules/review/review.yaml`` -> :class:`ReviewPolicy`.

A frozen model read by ``rules.config.load_config``: an unknown or malformed key raises
:class:`ReviewPolicyError` naming the file and key path, so a typo never falls back silently to a
default; each default is written once, in the model.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from rules.config import ConfigError, StrictModel, load_config, validate_config

DEFAULT_REVIEW_POLICY = Path(__file__).parent / "review.yaml"
LEVEL_CLASSES = ("agree", "close", "weak", "disagree")


class ReviewPolicyError(ConfigError):
    """A review policy value is unusable; the message names the key and what to write."""


Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class ReviewPolicy(StrictModel):
    """Label blending strength, precision band, what-if thresholds and workbook colour classes."""

    prior_strength: float = Field(default=50.0, ge=0)
    precision_band: tuple[Probability, Probability] = (0.9, 1.0)
    what_if_thresholds: tuple[Probability, ...] = (0.95, 0.9, 0.8, 0.7, 0.6)
    score_bins: tuple[Probability, ...] = Field(default=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0), min_length=2)
    level_classes: dict[Literal["agree", "close", "weak", "disagree"], tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("precision_band")
    @classmethod
    def _band(cls, band: tuple[float, float]) -> tuple[float, float]:
        if not band[0] < band[1]:
            raise ValueError("must be [low, high] with 0 <= low < high <= 1")
        return band

    @field_validator("what_if_thresholds")
    @classmethod
    def _descending(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(sorted(values, reverse=True))

    @field_validator("score_bins")
    @classmethod
    def _increasing(cls, bins: tuple[float, ...]) -> tuple[float, ...]:
        if not all(a < b for a, b in itertools.pairwise(bins)):
            raise ValueError("must be an increasing list of probabilities")
        return bins

    @field_validator("level_classes", mode="before")
    @classmethod
    def _no_null_lists(cls, classes: Any) -> Any:
        return {k: v or () for k, v in classes.items()} if isinstance(classes, dict) else classes

    def level_class(self, level: str) -> str:
        """``agree`` | ``close`` | ``weak`` | ``disagree`` | ``missing`` | ``partial`` for a level label."""
        if level == "missing":
            return "missing"
        for name in LEVEL_CLASSES:
            if level in self.level_classes.get(name, ()):
                return name
        return "partial"

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> ReviewPolicy:
        """Load ``review.yaml`` (default: the shipped one); :class:`ReviewPolicyError` names the key."""
        return load_config(Path(path) if path else DEFAULT_REVIEW_POLICY, cls, error=ReviewPolicyError)

    @classmethod
    def from_dict(cls, data: Any, source: str = "review policy") -> ReviewPolicy:
        return validate_config(data, cls, source=source, error=ReviewPolicyError)
