"""What ``motcua demo`` watches while it runs: its child processes and its service threads.

Contract:

* :class:`Watch` holds named probes — a :class:`runtime.children.Child` (the embedded
  broker, the pipeline worker) or a callable returning None while a service runs and one
  message once it stopped (the SQL sink, the HTTP ingest).
* :meth:`Watch.failures` lists the message of every stopped one; :meth:`Watch.check`
  raises :class:`ServiceDied` with all of them, so the demo says which service died, how
  (exit code, last log lines or the thread's exception), and exits non-zero
  (:class:`~schemas.errors.PipelineError`: exit status 1).
"""

from __future__ import annotations

from collections.abc import Callable

from runtime.children import Child
from schemas.errors import PipelineError


class ServiceDied(PipelineError):
    """A service of the demo (child process or thread) stopped while the demo ran."""


Probe = Callable[[], str | None]


class Watch:
    """Named services whose death the demo must report."""

    def __init__(self) -> None:
        self.probes: list[Probe] = []

    def child(self, child: Child) -> None:
        self.probes.append(child.failure)

    def add(self, probe: Probe) -> None:
        self.probes.append(probe)

    def failures(self) -> list[str]:
        return [msg for msg in (probe() for probe in self.probes) if msg is not None]

    def check(self) -> None:
        """Raise :class:`ServiceDied` naming every service that stopped."""
        failed = self.failures()
        if failed:
            raise ServiceDied("a service of the demo stopped:\n" + "\n".join(failed))


__all__ = ["ServiceDied", "Watch"]
