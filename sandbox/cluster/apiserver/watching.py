"""Watches served by the API server: a watch's start (from a version, or with the
current objects first, or as a streaming list), the batches of changes it then sends,
and watches on events, which are made from the simulation's history."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from . import errors as E
from .handlers import Api
from .routing import Target, truthy
from .selectors import field_selector, label_selector
from .watch import Change, WatchHub, bookmark, error_event, event


class Watches:
    """The API server's watches (mixed into ApiServer, which gives what is declared)."""

    cluster: Any
    api: Api
    hub: WatchHub
    stopped: bool

    # -- watch -------------------------------------------------------------------------
    def watch_start(self, target: Target, query: dict[str, str]
                    ) -> tuple[list[dict[str, Any]], int | None]:
        rv = query.get("resourceVersion") or ""
        if truthy(query.get("sendInitialEvents")):
            # A streaming list (client-go's WatchList): the current objects, then a
            # bookmark marking the end of them, then changes.
            if rv and not rv.isdigit():
                raise E.bad_request(f"invalid resource version: {rv!r}")
            events, start = self.watch_start(target, {**query, "resourceVersion": "",
                                                      "sendInitialEvents": ""})
            mark = bookmark(target.resource.kind, target.resource.api_version, start or 0)
            mark["object"]["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
            return [*events, mark], start
        if target.resource.kind == "Event":
            return self._events_start(target, query, rv)
        if rv in ("", "0"):
            with self.cluster.lock:
                items = self.api.list(target, query)
                start = self.hub.last
            if target.name:
                items = [i for i in items if i["metadata"]["name"] == target.name]
            return [event("ADDED", i) for i in items], start
        if not rv.isdigit():
            raise E.bad_request(f"invalid resource version: {rv!r}")
        try:
            self.hub.check(int(rv))
        except E.ApiError as err:
            return [error_event(err)], None
        return [], int(rv)

    def follow(self, target: Target, query: dict[str, str], rv: int | None, deadline: float,
               alive: Callable[[], bool]) -> Iterator[list[Change | dict[str, Any]] | None]:
        """Batches of what a watch sends (changes, or error events), None when idle."""
        if rv is None:
            return
        r = target.resource
        if r.kind == "Event":
            for ev in self._follow_events(target, query, rv, deadline, alive):
                yield None if ev is None else [ev]
            return
        labels = label_selector(query.get("labelSelector"))
        fields = field_selector(query.get("fieldSelector"), r.kind, r.api_version)
        while alive() and time.monotonic() < deadline:
            try:
                changes, rv = self.hub.since(rv, r.kind, min(1.0, deadline - time.monotonic()))
            except E.ApiError as err:
                yield [error_event(err)]
                return
            batch: list[Change | dict[str, Any]] = []
            for c in changes:
                meta = c.obj.get("metadata") or {}
                if target.namespace and meta.get("namespace") != target.namespace:
                    continue
                if target.name and meta.get("name") != target.name:
                    continue
                if not (labels(meta.get("labels") or {}) and fields(c.obj)):
                    continue
                batch.append(c)
            yield batch or None

    def _events_start(self, target: Target, query: dict[str, str], rv: str
                      ) -> tuple[list[dict[str, Any]], int | None]:
        """A watch on events starts after the numbered event `rv` (an event list's
        version): what came between the list and the watch is sent, as a real API
        server does. Without a version it starts with every event as ADDED. A version
        older than the history kept is gone (410), as a compacted one is."""
        with self.cluster.lock:
            items = self.api.list(target, query)
            newest, history = self.api.event_log()
        if rv in ("", "0"):
            return [event("ADDED", i) for i in items], newest
        if not rv.isdigit():
            raise E.bad_request(f"invalid resource version: {rv!r}")
        start, oldest = int(rv), newest - len(history) + 1
        if start > newest or start < oldest - 1:  # not a version this history can resume
            return [error_event(E.gone(rv, oldest))], None
        return [event("ADDED", i) for i in _numbered_after(items, start)], newest

    def _follow_events(self, target: Target, query: dict[str, str], start: int,
                       deadline: float, alive: Callable[[], bool]
                       ) -> Iterator[dict[str, Any] | None]:
        """Events are made from the simulation's history, not stored: a watch on them
        looks at that history every half second and sends those numbered after the last
        it sent."""
        last = start
        while alive() and time.monotonic() < deadline and not self.stopped:
            time.sleep(0.5)
            fresh = _numbered_after(self.api.list(target, query), last)
            for ev in fresh:
                last = max(last, int(ev["metadata"]["resourceVersion"]))
                yield event("ADDED", ev)
            if not fresh:
                yield None

    def bookmark(self, target: Target) -> dict[str, Any]:
        return bookmark(target.resource.kind, target.resource.api_version, self.hub.last)


def _numbered_after(events: list[dict[str, Any]], after: int) -> list[dict[str, Any]]:
    """The events numbered after `after`, in the order they were made (a watch sends
    changes in resourceVersion order; a list is sorted for people)."""
    def number(e: dict[str, Any]) -> int:
        return int(e["metadata"]["resourceVersion"])

    return sorted((e for e in events if number(e) > after), key=number)
