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
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from rules.errors import UserError

DEFAULT_POLICY_PATH = Path(__file__).parent / "quota.yaml"
POLICIES = ("proportional", "backlog_power")


class PolicyError(UserError, ValueError):
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
        """Build from a parsed YAML mapping; unknown or missing keys are refused, never defaulted."""
        if not isinstance(data, dict):
            raise PolicyError(f"{source}: expected a YAML mapping with `national_daily_quota:` at the top")
        if "national_daily_quota" not in data or data["national_daily_quota"] is None:
            raise PolicyError(f"{source}: `national_daily_quota` is missing; set it, e.g. 200000")
        known = {
            "national_daily_quota",
            "policy",
            "alpha",
            "floor_per_unit",
            "ageing",
            "timezone",
            "verification",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyError(f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        ageing = data.get("ageing") or {}
        if not isinstance(ageing, dict) or set(ageing) - {"per_day", "max_days"}:
            raise PolicyError(f"{source}: `ageing` must be a mapping with `per_day` and `max_days`")
        default = cls()
        try:
            return cls(
                quota=data["national_daily_quota"],
                policy=data.get("policy", default.policy),
                alpha=data.get("alpha", default.alpha),
                floor_per_unit=data.get("floor_per_unit", default.floor_per_unit),
                ageing_per_day=ageing.get("per_day", default.ageing_per_day),
                ageing_max_days=ageing.get("max_days", default.ageing_max_days),
                timezone=data.get("timezone", default.timezone),
            )
        except PolicyError as exc:
            raise PolicyError(f"{source}: {exc}") from None

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_POLICY_PATH) -> QuotaPolicy:
        """Load and validate a policy file; raises :class:`PolicyError` with what to fix."""
        return cls.from_dict(load_yaml(path), source=str(path))


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file, turning a missing file or a syntax error into :class:`PolicyError`."""
    p = Path(path)
    if not p.is_file():
        raise PolicyError(f"policy file {p} not found; pass an existing quota.yaml (default: {DEFAULT_POLICY_PATH})")
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise PolicyError(f"{p}: malformed YAML{where}; fix the indentation/quoting there") from None
    except UnicodeDecodeError:
        raise PolicyError(f"{p}: not UTF-8 text; save the file as UTF-8") from None


def _check_int(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"`{key}` must be a whole number (got {value!r})")
    if value < 0:
        raise PolicyError(f"`{key}` must be >= 0 (got {value}); a negative value is never meaningful")
