"""The facts cache: a rebuild folds from cached facts; --cold parses again."""

from __future__ import annotations

import shutil

from doorstep.sync import merge_cache
from doorstep.sync.merge import merge
from tests.sync.test_merge import (
    exported,
    follow_up_xml,
    gate_xml,
    household_xml,
    publish_all,
    submit,
)


def merged(deployment):
    publish_all(deployment)
    people = [("张三", "1", "2026-12-01")]
    submit(deployment, household_xml("uuid:h", "3", "101", "张三", "1", people))
    submit(deployment, follow_up_xml("uuid:f", "3-101-张三", "37.1"))
    submit(deployment, gate_xml("uuid:g", "5", "王五"))

    return merge(deployment)


def test_a_rebuild_reads_cached_facts_not_the_stored_xml(deployment, tmp_path):
    merged(deployment)
    before = exported(deployment, tmp_path / "a")
    # Without the XML a rebuild can only have come from the cache.
    shutil.rmtree(deployment.data_dir / "submissions")

    summary = merge(deployment, rebuild=True)

    assert (summary.new, summary.unreadable) == (3, [])
    assert exported(deployment, tmp_path / "b") == before


def test_a_cold_merge_discards_the_cache_and_parses_again(deployment):
    merged(deployment)
    shutil.rmtree(deployment.data_dir / "submissions")

    summary = merge(deployment, cold=True)

    assert sorted(summary.unreadable) == ["uuid:f", "uuid:g", "uuid:h"]


def test_the_key_changes_with_the_xml_the_form_the_building_and_the_version(
    monkeypatch,
):
    key = merge_cache.cache_key("a" * 64, "b" * 32, "building")
    others = {
        merge_cache.cache_key("c" * 64, "b" * 32, "building"),
        merge_cache.cache_key("a" * 64, "d" * 32, "building"),
        merge_cache.cache_key("a" * 64, "b" * 32, "grp/building"),
    }
    monkeypatch.setattr(merge_cache, "EXTRACTOR_VERSION", "next")

    others.add(merge_cache.cache_key("a" * 64, "b" * 32, "building"))

    assert key not in others and len(others) == 4
