"""The national quota policy as data: ``rules/quota/quota.yaml`` -> :class:`QuotaPolicy`.

Why a strict loader: the quota decides how many citizens' records are verified each day, so a typo
must never silently fall back to a default. Every problem (missing/negative quota, unknown policy
name, malformed YAML, wrong type) raises :class:`PolicyError` whose message names the key and what
to write instead, so the CLI can print it without a traceback.

Keys (see ``quota.yaml``): ``national_daily_quota`` (int >= 0, required), ``policy``
(``proportional`` | ``backlog_power``), ``alpha`` (> 0, used by ``backlog_power``),
``floor_per_unit`` (int >= 0), ``ageing.per_day`` (>= 0), ``ageing.max_days`` (int >= 0),
``timezone`` (IANA name). The ``verification`` section is read by ``rules.verify`` and ignored here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from rules.config import ConfigError, StrictModel, display_path, read_yaml, validate_config

DEFAULT_POLICY_PATH = Path(__file__).parent / "quota.yaml"
POLICIES = ("proportional", "backlog_power")


class PolicyError(ConfigError):
    """A quota policy or configuration value is unusable; the message says what to fix."""


@dataclass(frozen=True)
class QuotaPolicy:
    """How one national day's quota is shared between units (see ``rules.quota.allocate``)."""

    quota: int = 200_000
    policy: str = "backlog_power"
    alpha: float = 0.8
    floor_per_unit: int = 20
    ageing_per_day: float = 0.02
    ageing_max_days: int = 90
    timezone: str = "Asia/Ho_Chi_Minh"

    def __post_init__(self) -> None:
        _check_int("national_daily_quota", self.quota)
        if self.policy not in POLICIES:
            raise PolicyError(f"unknown policy {self.policy!r}; set `policy:` to one of: {', '.join(POLICIES)}")
        if not isinstance(self.alpha, int | float) or isinstance(self.alpha, bool) or not self.alpha > 0:
            raise PolicyError(f"`alpha` must be a number > 0 (got {self.alpha!r}); 1 = proportional")
        _check_int("floor_per_unit", self.floor_per_unit)
        per_day = self.ageing_per_day
        if not isinstance(per_day, int | float) or isinstance(per_day, bool) or not per_day >= 0:
            raise PolicyError(f"`ageing.per_day` must be a number >= 0 (got {per_day!r})")
        _check_int("ageing.max_days", self.ageing_max_days)
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise PolicyError(f"unknown timezone {self.timezone!r}; use an IANA name such as Asia/Ho_Chi_Minh") from exc

    @property
    def effective_alpha(self) -> float:
        """The exponent actually applied to backlogs (1 for ``proportional``)."""
        return 1.0 if self.policy == "proportional" else float(self.alpha)

    def with_quota(self, quota: int) -> QuotaPolicy:
        """The same policy with another national quota (what-if forecasts: ``--quota 300000``)."""
        return replace(self, quota=quota)

    @classmethod
    def from_dict(cls, data: Any, source: str = "policy") -> QuotaPolicy:
        """Build from a parsed YAML mapping (:class:`QuotaFile`); unknown or missing keys are refused."""
        try:
            return validate_config(data, QuotaFile, source=source, error=PolicyError).to_policy()
        except PolicyError as exc:
            raise PolicyError(str(exc) if str(exc).startswith(f"{source}:") else f"{source}: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_POLICY_PATH) -> QuotaPolicy:
        """Load and validate a policy file; raises :class:`PolicyError` with what to fix."""
        return cls.from_dict(load_yaml(path), source=display_path(path))


_D = QuotaPolicy  # the one place every default lives: the dataclass fields above


class Ageing(StrictModel):
    """``ageing:``: weight multiplier ``1 + per_day * min(days waited, max_days)``."""

    per_day: float = Field(default=_D.ageing_per_day, ge=0)
    max_days: int = Field(default=_D.ageing_max_days, ge=0)


class QuotaFile(StrictModel):
    """``quota.yaml`` as written (the ``verification`` section is checked by ``rules.verify``)."""

    national_daily_quota: int = Field(ge=0)
    policy: Literal["proportional", "backlog_power"] = _D.policy
    alpha: float = Field(default=_D.alpha, gt=0)
    floor_per_unit: int = Field(default=_D.floor_per_unit, ge=0)
    ageing: Ageing = Ageing()
    timezone: str = _D.timezone
    verification: dict[str, Any] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as Asia/Ho_Chi_Minh") from None
        return value

    def to_policy(self) -> QuotaPolicy:
        """The allocation policy this file describes."""
        return QuotaPolicy(quota=self.national_daily_quota, policy=self.policy, alpha=self.alpha,
                           floor_per_unit=self.floor_per_unit, ageing_per_day=self.ageing.per_day,
                           ageing_max_days=self.ageing.max_days, timezone=self.timezone)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file, turning a missing file or a syntax error into :class:`PolicyError`."""
    return read_yaml(path, error=PolicyError)


def _check_int(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"`{key}` must be a whole number (got {value!r})")
    if value < 0:
        raise PolicyError(f"`{key}` must be >= 0 (got {value}); a negative value is never meaningful")
