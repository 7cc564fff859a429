from __future__ import annotations

import re

import pytest

from doorstep.sync.deployment import DEFAULT_SETTINGS, DeploymentError, open_deployment
from doorstep.sync.settings import SETTINGS
from tests.conftest import REPO


def test_every_setting_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", readme, re.M))

    assert documented == {s.name for s in SETTINGS}


def test_default_settings_file_names_only_known_settings():
    text = DEFAULT_SETTINGS.format(name="x")
    written = set()
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif re.match(r"^#? ?[a-z_]+ = ", line):
            written.add(f"{section}.{line.lstrip('# ').split(' =')[0]}")

    assert written == {s.name for s in SETTINGS}


@pytest.mark.parametrize(
    "text, complaint",
    [
        ('[server]\nmax_body_bytes = "abc"', "server.max_body_bytes should be a whole"),
        ("[server]\nmax_body_bytes = true", "server.max_body_bytes should be a whole"),
        (
            "[ledgers]\nmask_personal = 1",
            "ledgers.mask_personal should be true or false",
        ),
        ("[server]\nport = 1", "server.port is not a doorstep setting"),
        ("server = 3", "[server] should be a table"),
        ("[server]\nmax_body_bytes = -5", "should be between 100000"),
        ("[server]\nurl = 5", "server.url should be text"),
        ('[server]\nurl = "nope"', "should start with http://"),
        ('[deployment]\ntimezone = "Mars/Base"', "a time zone name"),
        ('[ledgers]\nbuilding_field = "gate"', "should be a table"),
        ("[ledgers]\nbuilding_field = { gate = 1 }", "map form ids to field names"),
        ('[ledgers]\nduplicate_keys = { residents = "name" }', "lists of properties"),
        ("[server\n", "cannot be read"),
    ],
)
def test_a_wrong_setting_is_named_when_the_deployment_opens(
    deployment, text, complaint
):
    (deployment.root / "doorstep.toml").write_text(text, encoding="utf-8")

    with pytest.raises(DeploymentError, match=re.escape(complaint)):
        open_deployment(deployment.root)


def test_unset_setting_falls_back_to_its_documented_default(deployment):
    (deployment.root / "doorstep.toml").write_text("", encoding="utf-8")

    opened = open_deployment(deployment.root)

    assert opened.setting("server", "max_body_bytes") == 10_000_000
    assert opened.setting("deployment", "timezone") == "Asia/Shanghai"
