"""The ranks of a torchrun job share the rendering of missing synthetic clips instead of each rendering all."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from egvsr.datasets.synthetic import cache, ensure_clips

SIZE = (48, 64)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(1, 6))
def test_each_rank_has_its_own_share_first_and_every_item_after(n, world):
    items = list(range(n))
    orders = [cache.rank_order(items, r, world) for r in range(world)]
    shares = [o[:len(items[r::world])] for r, o in enumerate(orders)]
    assert sorted(x for s in shares for x in s) == items  # the shares cut the items, none twice
    for order in orders:
        assert sorted(order) == items  # a rank still ends with every item


def _duplicates(n: int, speeds: list[int]) -> tuple[int, set]:
    """Ranks of these speeds (steps per item) working through `rank_order`, each skipping an item finished
    before it starts it: (items done twice or more, items done)."""
    world = len(speeds)
    queues = [cache.rank_order(list(range(n)), r, world) for r in range(world)]
    busy: list[tuple[int, int] | None] = [None] * world  # (item, step it ends)
    finished: set = set()
    starts: dict[int, int] = {}
    step = 0
    while any(queues) or any(busy):
        for r in range(world):
            if busy[r] is not None and busy[r][1] <= step:
                finished.add(busy[r][0])
                busy[r] = None
            while busy[r] is None and queues[r]:
                item = queues[r].pop(0)
                if item not in finished:
                    starts[item] = starts.get(item, 0) + 1
                    busy[r] = (item, step + speeds[r])
        step += 1
    return sum(c > 1 for c in starts.values()), finished


@pytest.mark.parametrize("speeds", [[1, 1], [1, 1, 1, 1], [3] * 8])
def test_ranks_of_equal_speed_render_each_clip_about_once(speeds):
    """Every rank rendered every missing clip (each later published only while absent): `world` times the
    work. Ranks of one speed now render a clip twice only where they meet."""
    twice, done = _duplicates(60, speeds)
    assert done == set(range(60))
    assert twice < len(speeds)


@pytest.mark.parametrize("speeds", [[1, 3], [2, 1, 5, 1], [1, 7, 7], [1, 2, 3, 4, 5, 6]])
def test_ranks_of_other_speeds_cover_the_slow_ones(speeds):
    """A slow rank's clips are taken from their end by the fast ones: all done, few twice."""
    twice, done = _duplicates(60, speeds)
    assert done == set(range(60))
    assert twice <= 60 // 4


def test_ensure_clips_renders_this_ranks_share_first(tmp_path, monkeypatch):
    order: list[int] = []
    monkeypatch.setattr(cache, "_render", lambda job: order.append(job[3]))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    ensure_clips(tmp_path, 0, "train", list(range(10, 18)), SIZE, progress=False, workers=1)
    assert order == [11, 14, 17, 15, 16, 12, 13, 10]  # its share; then 2's and 0's from their ends, in turn
    order.clear()
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    ensure_clips(tmp_path, 0, "train", list(range(10, 13)), SIZE, progress=False, workers=1)
    assert order == [10, 11, 12]  # outside torchrun: in order


@pytest.mark.parametrize("env", [{"RANK": "x"}, {"RANK": "3", "WORLD_SIZE": "2"}, {"WORLD_SIZE": "-1"}])
def test_nonsense_rank_variables_mean_one_process(monkeypatch, env):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert cache.torchrun_ranks() == (0, 1, 1)


def test_ranks_on_one_machine_share_its_memory(tmp_path, monkeypatch):
    """Each rank planned its processes against the whole machine's memory, so 4 ranks could hold 4 times
    what fits."""
    one = cache.clip_memory_bytes(SIZE, 5)
    monkeypatch.setattr(cache, "memory_budget", lambda: 8 * one)
    assert cache.plan_workers(tmp_path, 100, SIZE, 5, 16) == 8
    assert cache.plan_workers(tmp_path, 100, SIZE, 5, 16, ranks_here=4) == 2
    assert cache.plan_workers(tmp_path, 100, SIZE, 5, 16, ranks_here=16) == 1
