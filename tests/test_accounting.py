"""What sessions used, from their launch records and from SLURM's accounting (sacct): the two
agree within 1 %. The two sessions start with the suite (this module runs first) and run about two
minutes alongside it; their use is checked at its end, when they are long over: a short session
would measure the second SLURM rounds to, not the records.
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import REPO, cluster_user, job_of, wait_until

pytestmark = pytest.mark.slurm
SESSIONS = (("used-a", "small"), ("used-b", "medium"))


@pytest.fixture(scope="session")
def accountant(slurm):
    with cluster_user(slurm, "accountant") as user:
        yield user


def test_two_sessions_start_and_run_alongside_the_suite(accountant):
    for name, flavor in SESSIONS:
        result = accountant.startnotebook("--profile", "slurm", "--name", name, "--flavor", flavor,
                                          "--notebook-timeout", "110")
        assert result.returncode == 0, result.stderr


@pytest.mark.at_the_end
def test_usage_from_the_records_agrees_with_sacct_within_1_percent(slurm, accountant):
    import jsonschema

    jobs = [job_of(accountant.home / name)["id"] for name, _ in SESSIONS]
    assert wait_until(lambda: not set(jobs) & set(slurm.queue()), 180, 2)
    time.sleep(2)  # slurmdbd receives the jobs' ends
    schema = json.loads((REPO / "schemas" / "usage.schema.json").read_text())
    figures = {}
    for source in ("records", "accounting"):
        result = accountant.startnotebook("usage", "--source", source, "--json")
        assert result.returncode == 0, result.stderr
        figures[source] = json.loads(result.stdout)
        jsonschema.validate(figures[source], schema, format_checker=jsonschema.FormatChecker())
    by_source = {source: {s["name"]: s for s in report["sessions"]} for source, report in figures.items()}
    for name, _ in SESSIONS:
        for measure in ("core_hours", "gb_hours"):
            records, sacct = by_source["records"][name][measure], by_source["accounting"][name][measure]
            assert sacct > 0 and abs(records - sacct) / sacct <= 0.01, (name, measure, records, sacct)
    totals = [figures[source]["total"]["core_hours"] for source in ("records", "accounting")]
    assert abs(totals[0] - totals[1]) / totals[1] <= 0.01, totals
    table = accountant.startnotebook("usage").stdout
    assert "used-a" in table and "total" in table and "SLURM accounting" in table
