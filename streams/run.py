"""Run one pipeline worker in this process: ``python -m streams.run [loglevel]``.

Settings come from the environment (``MOTCUA_*``); ``MOTCUA_KAFKA_BOOTSTRAP`` is required
(``motcua worker`` can start an embedded broker instead). Several workers with the same
``MOTCUA_CONSUMER_GROUP_PREFIX`` share the partitions. SIGTERM/SIGINT stop it cleanly.

Exit status: 0 after a clean stop; 1 when it cannot start (e.g. a broken unit registry,
``MOTCUA_UNITS_FILE``); 75 when the broker lost records the worker had written
(:class:`schemas.errors.LogLost`: recover, then restart); 70 when a batch, timer or
rebuild failed otherwise (its input was not committed: a restart processes it again);
another :class:`schemas.errors.MotcuaError` its ``exit_code``; faust's own status else.
"""

from __future__ import annotations

import gc
import logging
import sys

import faust

from runtime.settings import Settings, load_settings
from schemas.errors import MotcuaError
from streams.app import PipelineApp, create_app

EX_SOFTWARE = 70
"""Exit status of a worker stopped by a failure that is not a :class:`MotcuaError`."""

log = logging.getLogger("motcua.streams")


def exit_code_for(failure: BaseException) -> int:
    """The worker's exit status for the failure that stopped it."""
    if isinstance(failure, MotcuaError):
        return failure.exit_code
    return EX_SOFTWARE


def run_worker(settings: Settings, bootstrap: str, *, loglevel: str = "warn") -> None:
    """Build the pipeline's app and :func:`run_app` it (raises :class:`SystemExit`).

    The cyclic garbage collector runs less often (young generation every 50,000
    allocations instead of 700): the worker allocates millions of short-lived acyclic
    objects per second; reference counting frees everything as before
    (docs/decisions/streams-gc-threshold.md).
    """
    gc.set_threshold(50_000, 50, 100)
    try:
        app = create_app(settings, bootstrap)
    except MotcuaError as exc:  # e.g. a broken unit registry: one line, its exit status
        log.critical("the worker cannot start: %s", exc)
        sys.exit(exit_code_for(exc))
    run_app(app, loglevel=loglevel)


def run_app(app: PipelineApp, *, loglevel: str = "warn") -> None:
    """Run a faust worker for ``app`` until it stops; always raises :class:`SystemExit`
    with the status above (the app's recorded failure decides it, logged first)."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    status: int | str | None = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        status = stop.code
    finally:
        if app.failure is not None:
            status = exit_code_for(app.failure)
            log.critical("worker stopped (exit %d): %s", status, app.failure)
        logging.shutdown()
    sys.exit(status)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    settings = load_settings()
    if not settings.kafka_bootstrap:
        sys.exit("MOTCUA_KAFKA_BOOTSTRAP is not set: point the worker at a Kafka cluster "
                 "(or use `motcua worker`, which can start an embedded broker)")
    run_worker(settings, settings.kafka_bootstrap, loglevel=argv[0] if argv else "warn")


if __name__ == "__main__":
    main()
