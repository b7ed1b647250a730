"""What day it is for doisoat: the day in Vietnam (Asia/Ho_Chi_Minh, UTC+7), whatever the host's clock
zone. A server or container on UTC is still on the previous day until 07:00 in Vietnam, so a baby born
there that day (a hepatitis B birth dose is given within 24 hours) would read as born in the future.
The quota's own day follows its policy's ``timezone`` (``rules.verify.dispatch.today``); this is the
default everywhere else a "today" is needed: the date checks of the normaliser, the queue's backlog."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

VIETNAM_TIMEZONE = "Asia/Ho_Chi_Minh"


def vietnam_today() -> date:
    """Today's date in Vietnam."""
    return datetime.now(ZoneInfo(VIETNAM_TIMEZONE)).date()
