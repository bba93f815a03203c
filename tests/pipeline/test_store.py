"""The blob store's memory of recent blobs: a byte budget, small blobs only, forgotten on delete."""

from __future__ import annotations

from pipeline.store import RecentBlobs


def test_recent_blobs_keep_the_newest_within_the_budget() -> None:
    recent = RecentBlobs(max_bytes=10, max_item_bytes=4)
    for key in "abc":
        recent.remember(key, key.encode() * 4)
    assert recent.get("a") is None  # 12 bytes over a budget of 10: the oldest went
    assert recent.get("b") == b"bbbb"
    recent.remember("d", b"dddd")  # "c" is now the least recently used ("b" was just read)
    assert recent.get("c") is None
    assert recent.get("b") == b"bbbb"
    assert recent.get("d") == b"dddd"


def test_recent_blobs_skip_large_blobs_and_forget_deleted_ones() -> None:
    recent = RecentBlobs(max_bytes=50, max_item_bytes=4)
    recent.remember("big", b"x" * 5)
    assert recent.get("big") is None
    recent.remember("small", b"xy")
    recent.remember("small", b"xy")  # again: counted once
    recent.forget("small")
    assert recent.get("small") is None
    for i in range(50):  # the budget holds exactly 25 two-byte blobs (the forgotten one no longer counts)
        recent.remember(f"k{i}", b"zz")
    assert [recent.get(f"k{i}") is not None for i in (24, 25, 49)] == [False, True, True]
