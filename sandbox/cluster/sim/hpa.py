"""The HorizontalPodAutoscaler (autoscaling/v2) over simulated resource metrics.

Every 15 s (the controller's sync period) it reads its target's scale, takes the
Ready pods' usage (behaviour.py: CPU grows with the requests its Services send each
pod, up to its limit; memory with the time it has run) against their
requests, and proposes `ceil(ready pods * usage / target)`, unchanged within the 10 %
tolerance. Proposals are clamped to min/maxReplicas, held by the stabilisation windows
(scale-down 300 s, scale-up 0 s, or `behavior`) and limited by the scaling policies
(default: up by max(100 %, 4 pods), down by 100 %, per 15 s). The conditions and
events are the controller's, which is what Argo CD's health check reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sandbox.cluster.base import ObjRef
from sandbox.cluster.sim.behaviour import quantity
from sandbox.cluster.sim.context import Ctx
from sandbox.cluster.sim.pods import Kubelet, PodSim
from sandbox.cluster.sim.store import matches_selector
from sandbox.cluster.sim.workloads import set_condition, wake

SYNC_SECONDS = 15.0
TOLERANCE = 0.1
SCALABLE = {"Deployment": "deployments", "StatefulSet": "statefulsets",
            "ReplicaSet": "replicasets"}


class HPAController:
    def __init__(self, ctx: Ctx, kubelet: Kubelet,
                 service_rps: Callable[[str, dict[str, str]], float],
                 scaled: Callable[[ObjRef], None]) -> None:
        self.ctx = ctx
        self.kubelet = kubelet
        self.service_rps = service_rps  # (namespace, pod labels) -> requests per second
        self.scaled = scaled  # the target's replicas changed: its controller must look

    def targets(self, ref: ObjRef) -> bool:
        """Whether an HPA owns this workload's replicas."""
        for href, hpa in self.ctx.store.of_kind("HorizontalPodAutoscaler").items():
            target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            if href.namespace == ref.namespace and target.get("kind") == ref.kind \
                    and target.get("name") == ref.name:
                return True
        return False

    def sync(self, ref: ObjRef) -> None:
        ctx = self.ctx
        hpa = ctx.store.get(ref)
        if hpa is None:
            return
        state = ctx.ctl.setdefault(ref, {})
        if ctx.now + 1e-9 < float(state.get("next", 0.0)):
            return  # between sync periods; a timer is set
        state["next"] = ctx.now + SYNC_SECONDS
        wake(ctx, ref, state["next"])
        spec = hpa.get("spec") or {}
        status = dict(hpa.get("status") or {})
        conds = list(status.get("conditions") or [])
        stamp = ctx.stamp()
        target = spec.get("scaleTargetRef") or {}
        tref = ObjRef(str(target.get("kind", "")), str(target.get("name", "")), ref.namespace)
        obj = ctx.store.get(tref) if tref.kind in SCALABLE else None
        if obj is None:
            msg = (f"the HPA controller was unable to get the target's current scale: "
                   f'{SCALABLE.get(tref.kind, tref.kind.lower() + "s")}.apps "{tref.name}" '
                   "not found")
            self._warn(ref, state, "FailedGetScale", msg)
            conds = set_condition(conds, "AbleToScale", "False", "FailedGetScale", msg, stamp)
            self._write(hpa, {**status, "conditions": conds})
            return
        current = int((obj.get("spec") or {}).get("replicas", 1))
        low, high = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        status["currentReplicas"] = current
        if current == 0:
            conds = set_condition(conds, "ScalingActive", "False", "ScalingDisabled",
                                  "scaling is disabled since the replica count of the "
                                  "target is zero", stamp)
            self._write(hpa, {**status, "desiredReplicas": 0, "conditions": conds})
            return
        proposal, metrics, reason, error = self._propose(tref, obj, spec, current)
        conds = set_condition(conds, "AbleToScale", "True", "SucceededGetScale",
                              "the HPA controller was able to get the target's current scale",
                              stamp)
        if error:
            self._warn(ref, state, "FailedGetResourceMetric", error)
            conds = set_condition(conds, "ScalingActive", "False", "FailedGetResourceMetric",
                                  error, stamp)
            if current < low:
                proposal, reason = low, "Current number of replicas below Spec.MinReplicas"
            else:
                self._write(hpa, {**status, "desiredReplicas": current, "conditions": conds,
                                  "currentMetrics": metrics})
                return
        else:
            state.pop("warned", None)
            conds = set_condition(conds, "ScalingActive", "True", "ValidMetricFound",
                                  f"the HPA was able to successfully calculate a replica count "
                                  f"from {reason}", stamp)
        desired, limited = self._stabilise(state, spec, current, proposal, low, high)
        if limited:
            conds = set_condition(conds, "ScalingLimited", "True", limited[0], limited[1], stamp)
        else:
            conds = set_condition(conds, "ScalingLimited", "False", "DesiredWithinRange",
                                  "the desired count is within the acceptable range", stamp)
        if desired != current:
            obj["spec"]["replicas"] = desired
            obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            ctx.store.touch(obj)
            self.scaled(tref)
            if limited and limited[0] == "TooFewReplicas" and current < low:
                reason = "Current number of replicas below Spec.MinReplicas"
            elif limited and limited[0] == "TooManyReplicas" and current > high:
                reason = "Current number of replicas above Spec.MaxReplicas"
            elif not reason.startswith("Current"):
                reason += " above target" if desired > current else " below target"
            ctx.emit("SuccessfulRescale", ref, f"New size: {desired}; reason: {reason}")
            status["lastScaleTime"] = stamp
            conds = set_condition(conds, "AbleToScale", "True", "SucceededRescale",
                                  f"the HPA controller was able to update the target scale to "
                                  f"{desired}", stamp)
        elif proposal < current <= high and desired == current:
            conds = set_condition(conds, "AbleToScale", "True", "ScaleDownStabilized",
                                  "recent recommendations were higher than current one, "
                                  "applying the highest recent recommendation", stamp)
        else:
            conds = set_condition(conds, "AbleToScale", "True", "ReadyForNewScale",
                                  "recommended size matches current size", stamp)
        self._write(hpa, {**status, "desiredReplicas": desired, "currentMetrics": metrics,
                          "conditions": conds})

    # -- metrics ----------------------------------------------------------------------

    def _propose(self, tref: ObjRef, obj: dict[str, Any], spec: dict[str, Any], current: int
                 ) -> tuple[int, list[dict[str, Any]], str, str]:
        """(replicas proposed, currentMetrics, reason, error) over all metrics."""
        selector = (obj.get("spec") or {}).get("selector") or {}
        pods = [(p, ps) for pref, ps in self.kubelet.pods.items()
                if pref.namespace == tref.namespace and ps.ready and not ps.terminating
                and (p := self.ctx.store.get(pref)) is not None
                and matches_selector(p["metadata"].get("labels") or {}, selector)]
        metrics = spec.get("metrics") or [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
        best, reason, out = 0, "", []
        labels = (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}
                  ).get("labels") or {}
        rps = self.service_rps(tref.namespace, labels)
        for m in metrics:
            res = (m.get("resource") or {}) if m.get("type") == "Resource" else {}
            name = str(res.get("name", ""))
            target = res.get("target") or {}
            if name not in ("cpu", "memory"):
                continue  # only resource metrics are simulated
            if not pods:
                return current, out, "", ""
            usage, requested, missing = self._usage(name, pods, rps)
            if missing:
                return current, out, "", (f"failed to get {name} utilization: missing "
                                          f"request for {name} in {missing}")
            average = usage / len(pods)
            if target.get("type", "Utilization") == "Utilization":
                util = int(round(100.0 * usage / requested))
                ratio = util / float(target.get("averageUtilization", 80))
                current_metric = {"averageUtilization": util,
                                  "averageValue": _render(name, average)}
                text = f"{name} resource utilization (percentage of request)"
            else:
                want = quantity(target.get("averageValue", "0"), name == "cpu") or 1.0
                ratio = average / want
                current_metric = {"averageValue": _render(name, average)}
                text = f"{name} resource"
            out.append({"type": "Resource", "resource": {"name": name,
                                                         "current": current_metric}})
            proposal = len(pods) if abs(ratio - 1.0) <= TOLERANCE else math.ceil(
                len(pods) * ratio)
            if proposal > best or not reason:
                best, reason = proposal, text
        return (best or current), out, reason, ""

    def _usage(self, name: str, pods: list[tuple[dict[str, Any], PodSim]], rps: float
               ) -> tuple[float, float, str]:
        usage = requested = 0.0
        share = rps / len(pods)  # each Ready pod answers its part of the requests
        for pod, ps in pods:
            for c in pod["spec"].get("containers") or []:
                req = quantity(((c.get("resources") or {}).get("requests") or {}).get(name, ""),
                               name == "cpu")
                if req is None:
                    return 0.0, 0.0, f"container {c.get('name')} of Pod {ps.ref.name}"
                requested += req
            usage += self.kubelet.usage(ps, pod, share)[0 if name == "cpu" else 1]
        return usage, requested, ""

    # -- behaviour --------------------------------------------------------------------

    def _stabilise(self, state: dict[str, Any], spec: dict[str, Any], current: int,
                   proposal: int, low: int, high: int
                   ) -> tuple[int, tuple[str, str] | None]:
        ctx = self.ctx
        behavior = spec.get("behavior") or {}
        up, down = behavior.get("scaleUp") or {}, behavior.get("scaleDown") or {}
        up_window = float(up.get("stabilizationWindowSeconds", 0))
        down_window = float(down.get("stabilizationWindowSeconds", 300))
        history = [(float(t), int(r)) for t, r in state.get("recommendations") or []
                   if float(t) > ctx.now - max(up_window, down_window) - 1e-9]
        history.append((ctx.now, proposal))
        state["recommendations"] = [[t, r] for t, r in history]
        # Up follows the lowest recommendation of its window, down the highest of its.
        up_to = min(r for t, r in history if t > ctx.now - up_window - 1e-9)
        down_to = max(r for t, r in history if t > ctx.now - down_window - 1e-9)
        if up_to > current:
            desired = min(up_to, self._policy(up, current, True))
        elif down_to < current:
            desired = max(down_to, self._policy(down, current, False))
        else:
            desired = current
        limited = None
        if desired > high:
            desired, limited = high, ("TooManyReplicas",
                                      "the desired replica count is more than the maximum "
                                      "replica count")
        elif desired < low:
            desired, limited = low, ("TooFewReplicas",
                                     "the desired replica count is less than the minimum "
                                     "replica count")
        return desired, limited

    @staticmethod
    def _policy(rules: dict[str, Any], current: int, up: bool) -> int:
        """The furthest the scaling policies let one sync go (per 15 s period)."""
        policies = rules.get("policies") or ([{"type": "Percent", "value": 100},
                                              {"type": "Pods", "value": 4}] if up
                                             else [{"type": "Percent", "value": 100}])
        select = rules.get("selectPolicy", "Max")
        if select == "Disabled":
            return current
        steps = []
        for p in policies:
            value = int(p.get("value", 0))
            step = value if p.get("type") == "Pods" else math.ceil(current * value / 100.0)
            steps.append(step)
        step = max(steps) if select == "Max" else min(steps)
        return current + step if up else max(0, current - step)

    def _warn(self, ref: ObjRef, state: dict[str, Any], reason: str, message: str) -> None:
        if state.get("warned") != message:
            self.ctx.emit(reason, ref, message, "Warning")
            state["warned"] = message

    def _write(self, hpa: dict[str, Any], status: dict[str, Any]) -> None:
        self.ctx.store.changed.add(ObjRef.of(hpa))
        if status != hpa.get("status"):
            hpa["status"] = status
            self.ctx.store.touch(hpa)


def _render(name: str, value: float) -> str:
    return f"{int(round(value))}m" if name == "cpu" else f"{int(round(value))}Mi"
