"""The dbt project's shape: rules as vars with the contract's defaults, jaffle-shop conventions, no secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from transform.dbt_invoke import PROJECT_DIR, profile_yaml
from transform.runner import RECENT_ROWS_FILTER, dbt_variables

MODELS = PROJECT_DIR / "models"


def _model_files() -> dict[str, Path]:
    return {path.stem: path for path in MODELS.rglob("*.sql")}


def _documented_models() -> dict[str, dict[str, Any]]:
    documented: dict[str, dict[str, Any]] = {}
    for path in MODELS.rglob("*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []) or []:
            documented[model["name"]] = model
    return documented


def test_rules_are_vars_with_the_contract_defaults() -> None:
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["min_play_ms"] == 30000
    assert project["vars"]["dedupe_tolerance_seconds"] == 30
    assert project["vars"]["include_incognito"] is False
    assert project["models"]["spotify_mcp"]["marts"]["+schema"] == "marts"


def test_every_model_is_documented_and_tested() -> None:
    documented = _documented_models()
    for name in _model_files():
        assert name in documented, f"{name} has no YAML entry"
        model = documented[name]
        assert model.get("description"), f"{name} has no description"
        column_tests = [test for column in model.get("columns", []) for test in column.get("tests", [])]
        assert column_tests or model.get("tests"), f"{name} has no tests"


def test_only_staging_models_use_sources_and_they_are_named_by_source() -> None:
    for name, path in _model_files().items():
        uses_source = "source(" in path.read_text()
        if path.parent.name == "staging":
            assert re.fullmatch(r"stg_[a-z]+(_[a-z]+)*__[a-z_]+s", name), name
            assert uses_source, name
        else:
            assert not uses_source, f"{name} reads a source directly"
    for path in (MODELS / "intermediate").glob("*.sql"):
        assert path.stem.startswith("int_"), path


def test_schema_names_are_exact_and_dbt_runs_offline() -> None:
    macro = (PROJECT_DIR / "macros" / "generate_schema_name.sql").read_text()
    assert "custom_schema_name | trim" in macro
    assert not (PROJECT_DIR / "packages.yml").exists()
    assert not (PROJECT_DIR / "dependencies.yml").exists()
    assert not (PROJECT_DIR / "profiles.yml").exists()


def test_profile_is_generated_from_the_url() -> None:
    profile = json.loads(profile_yaml("postgresql://alice:s3cret@db.example:6543/music"))
    output = profile["spotify_mcp"]["outputs"]["default"]
    assert (output["host"], output["port"], output["user"], output["password"], output["dbname"]) == (
        "db.example",
        6543,
        "alice",
        "s3cret",
        "music",
    )
    assert output["type"] == "postgres"


def test_routine_runs_test_the_rows_they_wrote_and_full_runs_everything() -> None:
    assert dbt_variables(routine=True) == {"test_rows_filter": RECENT_ROWS_FILTER}
    assert dbt_variables(routine=False) == {}
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["test_rows_filter"] == "true"
