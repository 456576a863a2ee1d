"""one_per_index: an app keeps exactly one replica per index, at most N indexes; which copies go, and why."""

from __future__ import annotations

import pytest

from paasops.service.containers import ContainerView
from paasops.service.replicas import one_per_index


def ctr(id_: str, index: int | None, *, on: str = "a", created: float = 100, state: str = "running",
        status: str = "") -> ContainerView:
    labels = {"paasops.app": "web"} | ({"paasops.replica": str(index)} if index is not None else {})
    return ContainerView(id=id_, name=f"web-{index}", engine_id=on, image="i", state=state, status=status,
                         created=created, labels=labels)


CASES = {
    "one per index: nothing goes": ([ctr("x1", 1), ctr("x2", 2)], 2, None, []),
    "fewer than N: nothing goes (the caller creates)": ([ctr("x2", 2)], 3, None, []),
    "above N goes, highest first": ([ctr("x1", 1), ctr("x3", 3), ctr("x5", 5)], 1, None, ["x5", "x3"]),
    "no index is surplus": ([ctr("x1", 1), ctr("bad", None)], 1, None, ["bad"]),
    "of two copies the older stays": ([ctr("new", 1, created=200), ctr("old", 1, created=100)], 1, None, ["new"]),
    "a ready copy beats an older one that is not": (
        [ctr("old", 1, created=100, state="created"), ctr("new", 1, created=200)], 1, None, ["old"]),
    "an unhealthy copy is not ready": (
        [ctr("old", 1, created=100, status="Up 5 minutes (unhealthy)"), ctr("new", 1, created=200)], 1, None,
        ["old"]),
    "a copy on an up host beats an older ready one elsewhere": (
        [ctr("old", 1, on="gone", created=100), ctr("new", 1, on="a", created=200)], 1, {"a"}, ["old"]),
    "three copies: two go, surplus before duplicates": (
        [ctr("a", 2, created=3), ctr("b", 2, created=1), ctr("c", 2, created=2), ctr("d", 4)], 1, None,
        ["d", "c", "a"]),
    # a redeploy: the new release's replicas took the numbers after the old ones' (names still taken)
    "a new release numbered after the old one keeps its numbers": (
        [ctr("n4", 4), ctr("n5", 5), ctr("n6", 6)], 3, None, []),
    "beyond N distinct indexes the highest go, gaps or not": (
        [ctr("x2", 2), ctr("x4", 4), ctr("x7", 7), ctr("x9", 9)], 2, None, ["x9", "x7"]),
    # the cut-host deploy: 1, 2 and 5 started twice (the lost replies), 17 once
    "lost replies come back as duplicates, by index": (
        [ctr("c1", 1, on="c", created=1), ctr("a1", 1, created=5), ctr("c2", 2, on="c", created=1),
         ctr("b2", 2, on="b", created=5), ctr("c5", 5, on="c", created=1), ctr("a5", 5, created=5),
         ctr("b17", 17, on="b")], 24, {"a", "b", "c"}, ["a1", "b2", "a5"]),
}


@pytest.mark.parametrize("copies, count, up, gone", CASES.values(), ids=CASES.keys())
def test_one_per_index(copies, count, up, gone):
    removals = one_per_index(copies, count, up)
    assert [r.container.id for r in removals] == gone
    kept = [c for c in copies if c.id not in gone]
    indexes = [int(c.labels["paasops.replica"]) for c in kept]
    assert len(indexes) == len(set(indexes)) and len(indexes) <= count and all(i >= 1 for i in indexes)


def test_each_removal_says_why():
    removals = one_per_index([ctr("old", 1, on="gone", created=1), ctr("new", 1, created=2), ctr("x9", 9)], 1, {"a"})
    assert [r.why for r in removals] == ["index 9 is beyond the app's 1 replicas",
                                         "index 1 runs 2 times: web-1 on a is kept (its host is up)"]
    older = one_per_index([ctr("n", 1, created=2), ctr("o", 1, created=1)], 1)
    assert older[0].why.endswith("(it is older)")
    ready = one_per_index([ctr("n", 1, created=2), ctr("o", 1, created=1, state="created")], 1)
    assert ready[0].why.endswith("(it is ready)")
