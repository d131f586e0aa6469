"""Finding 2: a user-supplied regex must not be able to stall the process.

The pathological pattern runs in a child process: with a backtracking engine one line of 40
characters would take days, so the child is bounded by a generous timeout and the test fails
if it has not answered by then, instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.api.conftest import Api

CATASTROPHIC = "^/(a+)+$"

CHILD = textwrap.dedent(
    """
    from vigil.detect.engine import DetectionEngine
    from vigil.detect.exclusions import ExclusionSet
    from vigil.detect.ruleset import load_ruleset
    from vigil.ingest.parser import build_parser
    try:
        from vigil.batch import LineBatch
    except ImportError:  # the layout before batch types had their own module
        from vigil.ingest.records import LineBatch

    exclusions = ExclusionSet.from_dict(
        {"exclusions": [{"rules": ["sqli"], "path_regex": %r}]}
    )
    engine = DetectionEngine(load_ruleset(), exclusions=exclusions, matcher="re")
    path = "/" + "a" * 40 + "!"
    query = "?id=1%%27%%20UNION%%20SELECT%%20password%%20FROM%%20users--"
    line = (
        '203.0.113.9 - - [10/Oct/2026:13:00:00 +0000] "GET ' + path + query
        + ' HTTP/1.1" 200 1 "-" "x"'
    ).encode()
    batch = LineBatch("t", "f", [line], [0], len(line))
    records = build_parser("combined").parse_batch(batch).records
    detection = engine.detect_batch(records, site="default")[0]
    print("sqli" in detection.categories)
    """
)


def test_a_catastrophic_exclusion_regex_runs_in_linear_time() -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD % CATASTROPHIC],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    # The path does not match the pattern, so the exclusion does not apply: still an attack.
    assert child.stdout.strip() == "True"


async def test_a_pattern_the_linear_engine_refuses_is_a_422_that_says_why(api: Api) -> None:
    response = await api.client.post(
        "/exclusions",
        json={"rule_id": "sqli", "path_regex": r"^/(\w+)/\1$"},
        headers=api.admin,
    )
    assert response.status_code == 422
    message = str(response.json()["detail"])
    assert "RE2" in message and "path_regex" in message
    too_long = await api.client.post(
        "/exclusions", json={"rule_id": "sqli", "path_regex": "a" * 1025}, headers=api.admin
    )
    assert too_long.status_code == 422
