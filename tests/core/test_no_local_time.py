"""No code under app/ or jobs/ reads the machine's local time zone.

Every instant is aware and in UTC; a recipient's zone is always named. A call that falls back
on the process's zone (`datetime.now()`, `time.localtime()`, a naive `fromtimestamp`, ...)
would pass in a UTC test run and go wrong on a server elsewhere, so it is refused here, at
the source, for every module; `make test` also reruns the time-dependent tests in Asia/Kolkata.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ALWAYS_LOCAL = {"today", "utcnow", "utcfromtimestamp", "localtime", "mktime", "ctime", "asctime"}
"""Methods that use the local zone or return naive values whatever their arguments."""
LOCAL_WITHOUT_ZONE = {"now": 0, "fromtimestamp": 1, "astimezone": 0}
"""Methods that use the local zone when given no more than this many positional arguments
and no `tz`."""


def local_time_calls(source: str, filename: str = "<source>") -> list[str]:
    """`file:line method` for each call in `source` that would read the local zone."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method = node.func.attr
        zoned = any(keyword.arg == "tz" for keyword in node.keywords)
        if method in ALWAYS_LOCAL or (
            method in LOCAL_WITHOUT_ZONE
            and len(node.args) <= LOCAL_WITHOUT_ZONE[method]
            and not zoned
        ):
            found.append(f"{filename}:{node.lineno} {method}")
        elif method == "strftime" and _is_time_module(node.func.value) and len(node.args) < 2:
            found.append(f"{filename}:{node.lineno} time.strftime")
    return found


def _is_time_module(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "time"


def test_no_module_of_the_app_or_the_jobs_reads_the_local_time_zone() -> None:
    offenders = [
        call
        for folder in ("app", "jobs")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for call in local_time_calls(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "source",
    [
        "datetime.now()",
        "datetime.datetime.now()",
        "datetime.today()",
        "date.today()",
        "datetime.utcnow()",
        "datetime.fromtimestamp(stamp)",
        "datetime.utcfromtimestamp(stamp)",
        "moment.astimezone()",
        "time.localtime()",
        "time.mktime(parts)",
        "time.ctime(stamp)",
        "time.strftime('%H:%M')",
    ],
)
def test_each_call_that_reads_the_local_zone_is_caught(source: str) -> None:
    assert len(local_time_calls(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "datetime.now(UTC)",
        "datetime.now(tz=zone)",
        "datetime.fromtimestamp(stamp, UTC)",
        "datetime.fromtimestamp(stamp, tz=UTC)",
        "moment.astimezone(zone)",
        "time.monotonic()",
        "time.time()",
        "time.strftime('%H:%M', time.gmtime(stamp))",
        "moment.strftime('%H:%M')",
    ],
)
def test_calls_with_a_named_zone_pass(source: str) -> None:
    assert local_time_calls(source) == []
