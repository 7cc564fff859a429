"""`doorstep merge`, `ledger show|export|resolve` and `report quarantine`."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from doorstep.cli.ledger_cmd import ledger, merge_command, report
from doorstep.sync.deployment import DeploymentError, open_deployment
from tests.sync.test_merge import (
    follow_up_xml,
    household_xml,
    publish_all,
    submit,
    when,
)


class _Ref:
    """Stands in for the main group's DeploymentRef: a path and open()."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def open(self):
        try:
            return open_deployment(self.root)
        except DeploymentError as err:
            raise click.ClickException(str(err)) from err


def _cli(root: Path) -> click.Group:
    @click.group()
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        ctx.obj = _Ref(root)

    for command in (ledger, merge_command, report):
        cli.add_command(command)

    return cli


@pytest.fixture
def run(deployment):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(_cli(deployment.root), list(args))

    publish_all(deployment)
    submit(
        deployment,
        household_xml(
            "uuid:h",
            "3",
            "101",
            "张三",
            "13812345678",
            [("张三", "110101199001011234", "2026-12-01")],
        ),
    )
    submit(deployment, follow_up_xml("uuid:f1", "3-101-张三", "37.5"), "tablet-1")
    submit(
        deployment,
        follow_up_xml("uuid:f2", "3-101-张三", "36.5", end=when(2, 9)),
        "tablet-2",
    )

    return invoke


def test_merge_prints_a_summary_with_the_open_conflict(run):
    result = run("merge")

    assert result.exit_code == 0, result.output
    assert "3 new submission(s)" in result.output
    assert "Entities: households 1, residents 1." in result.output
    assert "1 open conflict(s)" in result.output


def test_merge_rebuild_starts_over(run):
    run("merge")

    result = run("merge", "--rebuild")

    assert result.exit_code == 0
    assert "3 new submission(s)" in result.output


def test_ledger_show_prints_both_header_rows_and_masks(run):
    run("merge")

    result = run("ledger", "show", "3")

    assert result.exit_code == 0, result.output
    assert "== residents (1) ==" in result.output
    assert "身份证号" in result.output and "ID card" in result.output
    assert "1101**********1234" in result.output
    assert "37.5 !" in result.output


def test_ledger_show_of_an_unknown_building_is_one_line_and_exit_1(run):
    run("merge")

    result = run("ledger", "show", "99")

    assert result.exit_code == 1
    assert result.output.startswith("Error: no ledger for building '99'")


def test_ledger_export_writes_files(run, tmp_path):
    run("merge")

    result = run("ledger", "export", "--format", "json", "--out", str(tmp_path / "x"))

    assert result.exit_code == 0, result.output
    assert (tmp_path / "x" / "3.json").exists()


def test_ledger_export_with_a_bad_format_is_a_usage_error(run, tmp_path):
    result = run("ledger", "export", "--format", "pdf", "--out", str(tmp_path))

    assert result.exit_code == 2
    assert "'pdf' is not one of 'xlsx', 'csv', 'json'" in result.output


def test_ledger_resolve_settles_the_conflict(run):
    run("merge")

    result = run("ledger", "resolve", "3-101-张三", "temperature", "36.5")

    assert result.exit_code == 0, result.output
    assert "Resolved residents:3-101-张三 temperature" in result.output
    assert "open conflict" not in run("merge").output


def test_ledger_resolve_without_a_conflict_fails_clearly(run):
    run("merge")

    result = run("ledger", "resolve", "3-101-张三", "full_name", "张三")

    assert result.exit_code == 1
    assert "no conflict on property 'full_name'" in result.output
    assert "temperature: #1 36.5 | #2 37.5" in result.output


def test_report_quarantine_lists_day_and_due(run):
    run("merge")

    result = run("report", "quarantine", "--date", "2026-12-02")

    assert result.exit_code == 0, result.output
    assert "== 3: 1 in quarantine, 0 due a follow-up on 2026-12-02 ==" in result.output
    # Returned 12-01 (day 0): 12-02 is day 1.
    assert "1/14" in result.output


def test_report_quarantine_with_a_bad_date_is_a_usage_error(run):
    result = run("report", "quarantine", "--date", "2 Dec")

    assert result.exit_code == 2


def test_missing_deployment_is_one_line_and_exit_1(tmp_path):
    result = CliRunner().invoke(_cli(tmp_path / "none"), ["merge"])

    assert result.exit_code == 1
    assert "is not a doorstep deployment" in result.output


def test_merge_cold_rebuilds_without_the_cache(run):
    run("merge")

    result = run("merge", "--cold")

    assert result.exit_code == 0, result.output
    assert "3 new submission(s)" in result.output


def test_merge_help_documents_cold_and_the_archive(run):
    result = run("merge", "--help")

    assert "--cold" in result.output
    assert "archive/<building>/<YYYY-MM>.xlsx" in result.output


def test_ledger_resolve_refuses_a_value_no_device_sent(run):
    run("merge")

    result = run("ledger", "resolve", "3-101-张三", "temperature", "99.9")

    assert result.exit_code == 1
    assert "'99.9' is not a value in conflict on property 'temperature'" in (
        result.output
    )
    assert "#1 36.5 | #2 37.5" in result.output
    assert "1 open conflict" in run("merge").output


def test_ledger_resolve_again_changes_the_choice(run, deployment):
    run("merge")
    run("ledger", "resolve", "3-101-张三", "temperature", "36.5")

    result = run("ledger", "resolve", "residents:3-101-张三", "temperature", "#2")

    assert result.exit_code == 0, result.output
    shown = run("ledger", "show", "3").output
    residents = shown.split("== residents")[1].split("\n\n")[0]
    assert "37.5" in residents and "36.5" not in residents
    listed = run("ledger", "conflicts", "--all", "--json").output
    assert '"chosen": "37.5"' in listed


def test_ledger_conflicts_lists_property_values_devices_and_times(run):
    run("merge")

    result = run("ledger", "conflicts")

    assert result.exit_code == 0, result.output
    assert "residents:3-101-张三 temperature (building 3)" in result.output
    assert "#1 36.5  tablet-2  2026-12-02 09:00" in result.output
    assert "#2 37.5  tablet-1  2026-12-02 10:00" in result.output
    run("ledger", "resolve", "3-101-张三", "temperature", "#1")
    assert run("ledger", "conflicts").output == "No open conflicts.\n"


def test_ledger_show_names_each_open_conflict(run):
    run("merge")

    result = run("ledger", "show", "3")

    assert "! 3-101-张三 temperature: 冲突 Conflict: " in result.output
    assert "tablet-1" in result.output and "tablet-2" in result.output
