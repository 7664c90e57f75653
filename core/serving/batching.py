"""Micro-batching on the event loop: small predictions that arrive together become one matrix.

The service's endpoints run on the event loop; while it is busy, requests queue up. Rather than
call the model once per request, the first pending request schedules one flush for the loop's
next turn, and every request that joins before it is predicted in the same call.
"""

from __future__ import annotations

import asyncio

from core.serving.service import Item, ModelWatcher, ServedModel, predict_items


class MicroBatcher:
    """Small predictions requested while the event loop was busy are computed as one matrix.

    A request's items join the pending list; the first one schedules a flush for the loop's next
    turn, after the requests that are already waiting to run. Under load, 50 single predictions
    cost one booster call (about 0.7 ms for 50 rows instead of 0.3 ms each); alone, a request
    waits for nothing.
    """

    def __init__(self, watcher: ModelWatcher) -> None:
        self.watcher = watcher
        self._pending: list[Pending] = []
        self._scheduled = False

    async def predict(
        self, items: list[Item], model: ServedModel | None = None
    ) -> tuple[ServedModel, float]:
        """``items`` predicted by ``model`` (default: the production model at flush time)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[ServedModel, float]] = loop.create_future()
        self._pending.append((items, future, model))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, []
        current = self.watcher.current
        groups: dict[int, tuple[ServedModel, list[Pending]]] = {}
        for entry in pending:
            served = entry[2] or current
            groups.setdefault(id(served), (served, []))[1].append(entry)
        for served, entries in groups.values():
            _predict_group(served, entries)


Pending = tuple[list[Item], "asyncio.Future[tuple[ServedModel, float]]", ServedModel | None]


def _predict_group(served: ServedModel, pending: list[Pending]) -> None:
    """One model call for every pending request of ``served``; each future gets the outcome."""
    try:
        per_item = predict_items(served, [item for items, _, _ in pending for item in items])
    except Exception as error:
        for _, future, _ in pending:
            if not future.done():
                future.set_exception(error)
        return
    for _, future, _ in pending:
        if not future.done():
            future.set_result((served, per_item))
