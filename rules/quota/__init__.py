"""National daily verification quota: policy (YAML), allocation, forecast and demo backlogs.

policy = QuotaPolicy.from_yaml()                       # rules/quota/quota.yaml
day = allocate(demo_backlogs(seed=1), policy)          # unit, backlog, oldest_wait_days, floor, allocated
fc = forecast(demo_backlogs(seed=1), policy, date(2026, 11, 24), quota=300_000)
print(render_table(fc))            # the HTML page of a forecast: rules.report.write_forecast_page
"""

from rules.quota.allocate import AllocationInputError, allocate, allocate_arrays
from rules.quota.demo import HCMC_STUDENT_BACKLOG, demo_backlogs
from rules.quota.forecast import Forecast, forecast, render_table
from rules.quota.policy import DEFAULT_POLICY_PATH, PolicyError, QuotaPolicy

__all__ = [
    "DEFAULT_POLICY_PATH",
    "HCMC_STUDENT_BACKLOG",
    "AllocationInputError",
    "Forecast",
    "PolicyError",
    "QuotaPolicy",
    "allocate",
    "allocate_arrays",
    "demo_backlogs",
    "forecast",
    "render_table",
]
