"""Budgeted rebalance in the service: the moves planned on the live snapshot, then carried out one replica at a
time, start-first behind the health gate, each under its app's lock, stopping at the first that fails."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping

from ..auth.ownership import Who, may_access, owner_labels
from ..errors import PaasopsError, UserInputError
from ..placement.filters import first_rejection
from ..placement.rebalance import Move, check_budget, rebalance
from ..results import RebalanceMove, RebalanceResult
from ..store.records import App
from ..vocabulary import DEPLOY_PENDING, REBALANCE_EVENT, REBALANCE_MOVE_EVENT
from .apps import AppManager
from .containers import ContainerView
from .demands import demands
from .deploy import Deployer, Replica
from .drain import READY_POLL, ready_budget
from .reconcile_apply import matcher
from .replicas import replica_index, request_for

log = logging.getLogger(__name__)
Say = Callable[[str], None]
SCHEDULED_BY = "paasops (scheduled rebalance)"  # the `user` of a scheduled run's moves and events


def replica_indexes(containers: Iterable[ContainerView], apps: Mapping[str, App]) -> dict[tuple[str, str], list[int]]:
    """(app, host) -> the indexes of the app's current release running there, each index run exactly once (a copy
    run twice, unnumbered or of another release is reconcile's to sort out, never moved)."""
    where: dict[tuple[str, int], list[str]] = {}
    for c in containers:
        app = apps.get(c.app) if c.app else None
        if app is not None and c.reserving and c.spec_hash == app.spec_hash and (index := replica_index(c)) >= 1:
            where.setdefault((app.name, index), []).append(c.engine_id)
    out: dict[tuple[str, str], list[int]] = {}
    for (app_name, index), hosts in sorted(where.items()):
        if len(hosts) == 1:
            out.setdefault((app_name, hosts[0]), []).append(index)
    return out


class NotMoved(Exception):
    """Why a move was not made (its replica still runs where it was)."""


def as_view(move: Move) -> RebalanceMove:
    return RebalanceMove(app=move.app, replica=move.replica, from_host=move.from_host, to_host=move.to_host,
                         improvement=round(move.improvement, 6), from_score=round(move.from_score, 6),
                         to_score=round(move.to_score, 6))


class Rebalancer:
    """`plan`: the moves that bring the cluster closest to what placement chooses today; `apply`: at most a
    budget of them, each replica started on its target under the same index, ready, then its old copy removed."""

    def __init__(self, apps: AppManager):
        self.apps = apps
        self.cluster = apps.cluster

    def plan(self, *, app: str | None = None, max_moves: int | None = None, who: Who | None = None) -> RebalanceResult:
        """The moves, best first (nothing changed); an `app` pattern that matches no app is a UserInputError.
        `who` (None: the service, or an admin): only the apps that account may act on are moved; the others'
        replicas still weigh on their hosts."""
        budget = check_budget(max_moves, where="max_moves")
        records = {a.name: a for a in self.cluster.store.list_apps() if may_access(who, a.owner, a.team)}
        match = matcher([app] if app else None)
        chosen = {name: a for name, a in records.items() if match(name)}
        if app and not chosen:
            raise UserInputError(f"no app matches {app!r} (see `paasops apps`)", where="app")
        skipped = {name: f"deployment {a.deployment_id} is pending: finish it first (`paasops reconcile`)"
                   for name, a in chosen.items() if a.state == DEPLOY_PENDING}
        wanted = demands(a for name, a in chosen.items() if name not in skipped)
        skipped.update({name: "its spec does not parse" for name in chosen if name not in skipped | wanted.keys()})
        plan = rebalance(self.cluster.snapshot(), wanted, max_moves=budget, weights=self.cluster.weights,
                         indexes=replica_indexes(self.cluster.containers(), chosen))
        n = len(plan.moves)
        message = (f"{n} move{'s' * (n != 1)} would bring the cluster closer to what placement chooses today"
                   + (" (the budget leaves more)" if plan.cut else "") if n else
                   "balanced: no move would gain enough")
        return RebalanceResult(applied=False, app=app, max_moves=budget, moves=[as_view(m) for m in plan.moves],
                               more=plan.cut, skipped=skipped, message=message)

    def apply(self, *, app: str | None = None, max_moves: int, user: str | None = None, who: Who | None = None,
              progress: Say = lambda line: None) -> RebalanceResult:
        """Carry out at most `max_moves` moves of the plan in order; stop at the first that fails (its replica
        keeps running where it was), and record an event per move and one for the run."""
        result = self.plan(app=app, max_moves=max_moves, who=who)
        planned, result.moves, result.applied = result.moves, [], True

        def say(line: str) -> None:
            result.steps.append(line)
            progress(line)

        say(f"rebalance: {len(planned)} move{'s' * (len(planned) != 1)} planned (budget {result.max_moves})")
        for i, move in enumerate(planned, 1):
            with self.apps.locked(move.app):  # no deploy, scale, reconcile or supervisor acts on it meanwhile
                self._move(move, user, say, f"[{i}/{len(planned)}]")
            result.moves.append(move)
            self.cluster.record(REBALANCE_MOVE_EVENT, user=user, app=move.app, host=move.to_host,
                                message=(f"{move.app} replica {move.replica} moved {move.from_host} -> {move.to_host}"
                                         f" (+{move.improvement:.1f})" if move.done else
                                         f"{move.app} replica {move.replica} not moved {move.from_host} -> "
                                         f"{move.to_host}: {move.error}"),
                                data=move.model_dump(mode="json"))
            if not move.done:
                result.ok = False
                break
        result.moved = sum(m.done for m in result.moves)
        if not result.ok:
            result.message = f"stopped after {result.moved} move(s): {result.moves[-1].error}"
        elif result.moved:
            result.message = f"{result.moved} replica(s) moved" + (" (the budget leaves more)" if result.more else "")
        else:
            result.message = "balanced: no move would gain enough"
        say(result.message)
        self.cluster.record(REBALANCE_EVENT, user=user, message=result.message,
                            data={"moved": result.moved, "ok": result.ok, "max_moves": result.max_moves,
                                  "app": app, "more": result.more})
        return result

    def _move(self, move: RebalanceMove, user: str | None, say: Say, step: str) -> None:
        """One move, its app's lock held; a failure is said and kept in `move.error`."""
        try:
            self._start_first(move, user, say, step)
        except NotMoved as exc:
            move.error = str(exc)
            say(f"{step} {move.app} replica {move.replica}: {move.error}")
            return
        move.done = True
        say(f"{step} {move.app}: replica {move.replica} moved {move.from_host} -> {move.to_host} (ready; "
            f"+{move.improvement:.1f})")

    def _start_first(self, move: RebalanceMove, user: str | None, say: Say, step: str) -> None:
        """Checked again on what runs now, then the replica started on the target under its index, ready, and its
        old copy removed; NotMoved says why not (the old copy then still runs)."""
        app = self.cluster.store.get_app(move.app)
        old = next((c for c in self.cluster.containers(app=move.app)
                    if app is not None and c.engine_id == move.from_host and c.reserving
                    and c.spec_hash == app.spec_hash and replica_index(c) == move.replica), None)
        if app is None or app.state == DEPLOY_PENDING or old is None:
            raise NotMoved("it changed since the plan (deployed, scaled or moved meanwhile): plan again")
        try:
            spec = self.apps.spec_for(app)
        except PaasopsError as exc:  # its spec or its secrets cannot be read now
            raise NotMoved(f"its spec cannot be read: {exc}") from None
        target = next((h for h in self.cluster.snapshot() if h.id == move.to_host), None)
        rejection = first_rejection(target, request_for(spec)) if target is not None else ("engines", "it is gone")
        if rejection is not None:
            raise NotMoved(f"{move.to_host} no longer takes it ({rejection[0]}: {rejection[1]})")
        say(f"{step} {move.app}: starting replica {move.replica} on {move.to_host} (it runs on {move.from_host} "
            "until the new one is ready)")
        if app.spec_hash and app.spec_hash != spec.release:  # a version-1 hash: keep it (as start_replicas does)
            spec = spec.as_release(app.spec_hash)
        replica = Replica(move.replica)
        try:
            self.apps.images.require(spec.image, list(self.cluster.engines.values()))
            Deployer(self.cluster, self.apps.images, per_host=self.apps.per_host, user=user,
                     pids_limit=self.apps.pids_limit, labels=owner_labels(app.owner, app.team)).start_replica(
                spec, app.deployment_id, replica, move.to_host)
        except PaasopsError as exc:
            raise NotMoved(f"not started on {move.to_host}: {exc}") from None
        move.new_id, move.old_id = replica.container_id, old.id
        if not self._ready(move.to_host, replica.container_id or "", ready_budget(spec)):
            try:
                self.cluster.operate("destroy", replica.container_id or "", user=user)
            except PaasopsError as exc:  # reconcile removes the copy: one per index, the ready old one kept
                log.warning("rebalance: removing the replica that did not get ready: %s", exc)
            raise NotMoved(f"not ready on {move.to_host} in time; it still runs on {move.from_host}")
        try:
            self.cluster.operate("destroy", old.id, user=user)
        except PaasopsError as exc:
            raise NotMoved(f"ready on {move.to_host}, but its old copy on {move.from_host} could not be removed "
                           f"({exc}); reconcile keeps one of the two") from None

    def _ready(self, host: str, container_id: str, budget: float) -> bool:
        """Whether the container is ready (read from its engine) within `budget` seconds; False once it is gone."""
        deadline = time.monotonic() + budget
        while True:
            try:
                view = self.cluster.engine(host).refresh_container(container_id)
            except PaasopsError as exc:  # its engine is away for now: looked at again
                log.info("rebalance: %s", exc)
            else:
                if view is None:
                    return False
                if view.ready:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(READY_POLL)


class RebalanceSchedule:
    """Every `every` seconds (0: off, the default), make at most `budget` moves when the plan has any; a run with
    nothing to move records nothing. A daemon thread, stopped with the service."""

    def __init__(self, apps: AppManager, every: float, budget: int):
        self.apps, self.every = apps, every
        self.budget = check_budget(budget, where="rebalance_budget")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.every <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="paasops-rebalance", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None

    def run_once(self) -> RebalanceResult | None:
        """One run: None when no move is worth making, else what `apply` did."""
        rebalancer = Rebalancer(self.apps)
        if not rebalancer.plan(max_moves=self.budget).moves:
            return None
        return rebalancer.apply(max_moves=self.budget, user=SCHEDULED_BY,
                                progress=lambda line: log.info("scheduled rebalance: %s", line))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.run_once()
            except Exception as exc:  # a store or engine hiccup: the next run tries again
                log.warning("scheduled rebalance: %s", exc)
