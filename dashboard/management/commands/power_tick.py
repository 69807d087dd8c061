"""The periodic power check: start what waiting work needs, stop instances that have idled, retry errors.

Run one per deployment beside the web tier (several are harmless: they take turns through the
fleet lock). `make run` runs it with `--stop-local-on-exit` so Ctrl-C also stops the local worker
and the local endpoints.
"""

from __future__ import annotations

import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from dashboard import compute, metrics, power
from dashboard.exceptions import ComputeError, DashboardError

FAST_SECONDS = 2.0  # while an instance is changing state, look again soon


class Command(BaseCommand):
    help = "Check the inference fleet every POWER_TICK_SECONDS: power on for waiting work, off when idle."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="Check once and exit.")
        parser.add_argument(
            "--stop-local-on-exit",
            action="store_true",
            help="On exit, stop the local worker processes and local endpoints.",
        )

    def handle(self, *args, **options) -> None:
        stopping = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stopping.set())
        from dashboard.metrics.server import metrics_server_start

        metrics_server_start(
            port=settings.METRICS_POWER_TICK_PORT, what="power_tick", setting="METRICS_POWER_TICK_PORT"
        )
        ticks = 0
        try:
            while True:
                fast = self._tick()
                if ticks % settings.RECONCILE_EVERY_TICKS == 0:
                    self._reconcile()
                ticks += 1
                if options["once"] or stopping.wait(FAST_SECONDS if fast else settings.POWER_TICK_SECONDS):
                    break
        finally:
            if options["stop_local_on_exit"] and settings.SAGEMAKER_BACKEND == "local":
                self._stop_local_endpoints()
            if options["stop_local_on_exit"] and settings.COMPUTE_BACKEND == "local":
                self._stop_local()

    def _tick(self) -> bool:
        """One check; returns whether to look again soon."""
        try:
            power.tick_heartbeat()
            decision = power.power_tick()
        except ComputeError as error:
            metrics.POWER_TICKS.labels(outcome="error").inc()
            self.stderr.write(f"power tick: {error}")
            return False
        except Exception as error:  # Redis or the database away: keep ticking, say why
            metrics.POWER_TICKS.labels(outcome="error").inc()
            self.stderr.write(f"power tick failed: {error.__class__.__name__}: {error}")
            return False
        if decision is None:  # another process held the fleet lock and decided
            metrics.POWER_TICKS.labels(outcome="busy").inc()
            return False
        metrics.POWER_TICKS.labels(outcome="ok").inc()
        if decision.start or decision.stop:
            self.stdout.write(f"power: start {list(decision.start)} stop {list(decision.stop)} ({decision.reason})")
        last = power.last_check() or {}
        return bool(decision.waiting or decision.start or decision.stop or last.get("transitioning"))

    def _reconcile(self) -> None:
        """Re-enqueue items Redis lost and take back those a dead worker held (dashboard/reconcile.py)."""
        from dashboard.reconcile import reconcile

        try:
            report = reconcile()
        except Exception as error:  # Redis or DynamoDB away: the next run tries again
            self.stderr.write(f"reconcile failed: {error.__class__.__name__}: {error}")
            return
        if report.changed or report.enqueue_error:
            self.stdout.write(report.summary())

    def _stop_local_endpoints(self) -> None:
        """Local endpoints run in their own sessions, so Ctrl-C does not reach them: stop them here."""
        from dashboard import endpoints
        from dashboard.endpoints.base import SCALED_TO_ZERO

        backend = endpoints.backend()
        for name in backend.endpoint_names():
            try:
                if backend.endpoint_describe(name).state != SCALED_TO_ZERO:
                    backend.scale_to_zero(name)
                    self.stdout.write(f"local endpoint {name} stopped")
            except DashboardError as error:
                self.stderr.write(f"could not stop endpoint {name}: {error}")

    def _stop_local(self) -> None:
        backend = compute.backend()
        for instance_id in backend.instance_ids():
            try:
                backend.stop(instance_id)
            except ComputeError as error:
                self.stderr.write(f"could not stop {instance_id}: {error}")
        deadline = time.monotonic() + settings.LOCAL_STOP_TIMEOUT + 5
        while time.monotonic() < deadline:
            if all(i.state == "stopped" for i in backend.instances()):
                self.stdout.write("local workers stopped")
                return
            time.sleep(0.5)
