"""National daily verification quota: policy (YAML), allocation, forecast and demo backlogs."""

from rules.quota.allocate import AllocationInputError, allocate, allocate_arrays
from rules.quota.policy import DEFAULT_POLICY_PATH, PolicyError, QuotaPolicy

__all__ = [
    "DEFAULT_POLICY_PATH",
    "AllocationInputError",
    "PolicyError",
    "QuotaPolicy",
    "allocate",
    "allocate_arrays",
]
