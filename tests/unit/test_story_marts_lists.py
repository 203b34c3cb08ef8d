"""The story tools and the tests that fill their marts name the same marts (two lists: serve must not import tests).

serve/tools/subjects.py checks STORY_MARTS exist before answering; tests/fixtures/marts.py renders STORY_MODELS'
dbt SQL into the contract's tables. A story mart added to one list and not the other would either not be checked
by the tools or not be filled by the tool tests."""

from __future__ import annotations

from serve.tools.subjects import STORY_MARTS
from tests.fixtures.marts import STORY_MODELS, STORY_MODELS_DIR


def test_the_story_tools_and_the_fixtures_list_the_same_marts() -> None:
    assert sorted(STORY_MARTS) == sorted(STORY_MODELS)
    assert len(set(STORY_MARTS)) == len(STORY_MARTS)


def test_every_listed_story_mart_is_a_dbt_model() -> None:
    missing = [name for name in STORY_MODELS if not (STORY_MODELS_DIR / f"{name}.sql").is_file()]
    assert missing == []
