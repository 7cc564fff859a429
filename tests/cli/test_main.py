from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from doorstep.cli.main import main
from doorstep.forms.templates import TEMPLATES
from doorstep.sync.deployment import open_deployment
from doorstep.sync.devices import (
    Device,
    DeviceRegistry,
    collect_settings,
    read_collect_settings,
)
from doorstep.sync.ingest import Ingest
from tests.conftest import REPO, write_md_form

GATE = """
| survey |          |          |          |
|        | type     | name     | label    |
|        | text     | visitor  | Visitor  |
|        | text     | building | Building |
| settings |           |         |
|          | form_id   | version |
|          | gate      | {version} |
"""


@pytest.fixture
def office(tmp_path: Path) -> Path:
    result = CliRunner().invoke(main, ["init", str(tmp_path / "office")])
    assert result.exit_code == 0, result.output

    return tmp_path / "office"


def run(office: Path, *args: str):
    return CliRunner().invoke(main, ["--dir", str(office), *args])


def test_init_copies_every_template_as_xlsx(office):
    names = sorted(p.stem for p in (office / "forms").glob("*.xlsx"))

    assert names == sorted(TEMPLATES)
    assert (office / "doorstep.toml").is_file()


def test_init_refuses_an_existing_deployment(office):
    result = CliRunner().invoke(main, ["init", str(office)])

    assert result.exit_code == 1
    assert "already holds a deployment" in result.output
    assert "Traceback" not in result.output


def test_command_outside_a_deployment_says_how_to_make_one(tmp_path):
    result = CliRunner().invoke(main, ["--dir", str(tmp_path), "status"])

    assert result.exit_code == 1
    assert "doorstep init" in result.output


def test_deployment_dir_comes_from_the_environment(office):
    result = CliRunner().invoke(main, ["status"], env={"DOORSTEP_DIR": str(office)})

    assert result.exit_code == 0, result.output
    assert "0 submissions" in result.output


def test_usage_mistake_exits_2():
    result = CliRunner().invoke(main, ["forms", "state", "gate", "sideways"])

    assert result.exit_code == 2


def test_shipped_templates_publish(office):
    result = run(office, "forms", "add", *map(str, (office / "forms").glob("*.xlsx")))

    assert result.exit_code == 0, result.output
    assert result.output.count(": published") == len(TEMPLATES)


def test_changed_form_under_the_same_version_is_refused(office, tmp_path):
    first = write_md_form(tmp_path, "gate", GATE.format(version="1"))
    assert run(office, "forms", "add", str(first)).exit_code == 0
    changed = write_md_form(tmp_path, "gate", GATE.format(version="1") + "\n")
    changed.write_text(changed.read_text().replace("Visitor", "Guest"))

    result = run(office, "forms", "add", str(changed))

    assert result.exit_code == 1
    assert "new version" in result.output


def test_forms_list_and_state(office, tmp_path):
    run(
        office,
        "forms",
        "add",
        str(write_md_form(tmp_path, "g", GATE.format(version="7"))),
    )

    closed = run(office, "forms", "state", "gate", "closed")
    listed = json.loads(run(office, "forms", "list", "--json").output)

    assert closed.exit_code == 0
    assert listed[0]["form_id"] == "gate"
    assert listed[0]["version"] == "7"
    assert listed[0]["state"] == "closed"


def test_device_add_prints_url_token_and_a_collect_qr_code(office):
    result = run(
        office,
        "device",
        "add",
        "tablet-1",
        "--server-url",
        "http://10.0.0.5:8000",
        "--json",
    )

    data = json.loads(result.output)
    assert data["url"] == f"http://10.0.0.5:8000/key/{data['token']}"
    assert Path(data["qr"]).read_bytes().startswith(b"\x89PNG")
    device = DeviceRegistry(office / "data").get("tablet-1")
    assert device.token == data["token"]


def test_collect_settings_payload_carries_the_server_url_and_project():
    device = Device("tablet-1", "tok", (), 0.0)

    settings = read_collect_settings(collect_settings(device, "http://h:1", "三里屯"))

    assert settings["general"]["server_url"] == "http://h:1/key/tok"
    assert settings["project"]["name"] == "三里屯"
    assert settings["admin"] == {}


def test_device_revoke_and_list(office):
    run(office, "device", "add", "tablet-1")

    revoked = run(office, "device", "revoke", "tablet-1")
    again = run(office, "device", "revoke", "nobody")
    listed = json.loads(run(office, "device", "list", "--json").output)

    assert revoked.exit_code == 0
    assert again.exit_code == 1 and "no device named 'nobody'" in again.output
    assert listed[0]["revoked"] is not None


def test_status_and_submissions_list_count_what_was_stored(office, tmp_path):
    run(
        office,
        "forms",
        "add",
        str(write_md_form(tmp_path, "g", GATE.format(version="1"))),
    )
    ingest = Ingest(open_deployment(office))
    for n in range(3):
        xml = (
            f'<data id="gate" version="1"><visitor>v</visitor><building>2</building>'
            f"<meta><instanceID>uuid:{n}</instanceID></meta></data>"
        ).encode()
        ingest.submit(xml, {}, device_id="collect:x", device_name="tablet-1")

    status = json.loads(run(office, "status", "--json").output)
    rows = json.loads(
        run(office, "submissions", "list", "--form", "gate", "--json").output
    )

    assert status["submissions"] == 3
    assert status["forms"] == {"gate": 3}
    assert status["devices"]["tablet-1"]["submissions"] == 3
    assert [r["instance_id"] for r in rows] == ["uuid:0", "uuid:1", "uuid:2"]
    assert all(r["complete"] for r in rows)


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in sorted(group.commands.items()):
        names.append(f"{prefix}{name}")
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix}{name} ")

    return names


def test_every_command_has_help_and_is_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    first_cells = re.findall(r"^\| (`.*?) \|", readme, re.M)
    documented = {
        name
        for cell in first_cells
        for name in re.findall(r"`([a-z][a-z ]*[a-z])", cell)
    }

    commands = _commands(main)
    undocumented = [
        name
        for name in commands
        if name not in documented
        and not any(d.startswith(name + " ") for d in documented)
    ]

    assert undocumented == []
    for name in commands:
        command = main
        for word in name.split():
            command = command.commands[word]
        assert command.help, f"`doorstep {name}` has no help text"


def test_revoked_device_name_can_be_given_again_with_a_new_key(office):
    first = json.loads(run(office, "device", "add", "tablet-1", "--json").output)
    run(office, "device", "revoke", "tablet-1")

    again = run(office, "device", "add", "tablet-1", "--json")

    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["token"] != first["token"]
    assert DeviceRegistry(office / "data").by_token(first["token"]) is None


def test_data_folder_that_is_a_file_is_one_clear_line(office):
    import shutil

    shutil.rmtree(office / "data")
    (office / "data").write_text("not a folder")

    result = run(office, "status")

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "folders are folders" in result.output


def test_simulate_refuses_a_server_that_is_not_a_url():
    result = CliRunner().invoke(main, ["simulate", "--server", "notaurl"])

    assert result.exit_code == 2
    assert "is not a server URL" in result.output


def test_output_cut_short_by_its_reader_is_not_an_error():
    import subprocess
    import sys

    # A reader such as `head` closing the pipe early, as the OS reports it.
    script = (
        "from doorstep.cli.main import DoorstepGroup\n"
        "group = DoorstepGroup()\n"
        "@group.command()\n"
        "def show():\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "group(['show'])\n"
    )

    done = subprocess.run([sys.executable, "-c", script], capture_output=True)

    assert done.returncode == 0
    assert done.stderr == b""
