"""API plays get the import's time guard (issue 15.3): a play Spotify reports before its launch or days ahead
is skipped and counted, never landed, and never becomes the polling cursor (which would hide every real play
until that date)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.test_collector_cycles import World, fake_server, world

__all__ = ["fake_server", "world"]  # the fixtures this module uses


async def test_implausible_api_plays_are_skipped_and_do_not_move_the_cursor(world: World) -> None:
    user = world.connect("u1", plays=5)
    real_newest = world.fake.users["u1"].plays[-1].played_at
    world.fake.add_plays("u1", 1, end=datetime.now(UTC) + timedelta(days=30))  # a broken clock somewhere
    world.fake.add_plays("u1", 1, end=datetime(2001, 1, 1, tzinfo=UTC))
    collector = world.collector(INITIAL_SYNC_ENABLED="false", ENRICHMENT_ENABLED="false")

    first = await collector.run_cycle()

    assert first.landed == 5
    assert world.one("SELECT count(*) FROM raw.api_plays WHERE user_id = %s", user) == 5
    assert world.one("SELECT max(played_at) FROM raw.api_plays") == real_newest
    stats = world.one("SELECT stats FROM app.job_runs WHERE user_id = %s AND job_type = 'poll'", user)
    assert stats["fetched"] == 7 and stats["inserted"] == 5 and stats["skipped_out_of_range"] == 2
    assert world.one("SELECT last_poll_latest_played_at FROM app.sync_checkpoints WHERE user_id = %s", user) == (
        real_newest
    )

    # A play after that is still seen: the cursor did not jump to the future play.
    world.fake.add_plays("u1", 1, end=real_newest + timedelta(minutes=4))
    world.make_due()
    second = await collector.run_cycle()
    assert second.landed == 1
    assert world.one("SELECT count(*) FROM raw.api_plays WHERE user_id = %s", user) == 6
