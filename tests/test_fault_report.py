"""The fault suites' report: the longest stretch without a completion, and the table's rows (fleettest.faults)."""

import math

from fleettest.faults import Outcome, longest_gap, table


def test_the_longest_gap_is_the_widest_interval_between_completions_in_any_order():
    assert longest_gap([10.0, 30.5, 11.0, 12.0]) == 18.5


def test_fewer_than_two_times_have_no_gap():
    assert longest_gap([]) == 0.0
    assert longest_gap([5.0]) == 0.0


def test_the_table_has_a_row_per_case_with_its_gap():
    rows = table(
        [
            Outcome("1. a node stopped", 90, 90, 0, 2, 0, 4.2, gap=6.5, notes="mq2 took over"),
            Outcome("2. kill -9", 80, 79, 1, 0, 0, math.nan),
        ]
    ).splitlines()
    assert rows[0].split("|")[8].strip() == "longest gap s"
    assert rows[2] == "| 1. a node stopped | 90 | 90 | 0 | 2 | 0 | 4.2 | 6.5 | mq2 took over |"
    assert rows[3] == "| 2. kill -9 | 80 | 79 | 1 | 0 | 0 | nan | nan |  |"
    assert len(rows) == 4
