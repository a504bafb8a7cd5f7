"""Every exception motcua-kpi raises on purpose, under one root (httpx style).

It sits in the lowest layer so that every package can raise its own branch without
importing upward; lower-library errors (pydantic, kafka-python, SQLAlchemy, faust) are
translated at the boundary that meets them (``raise OurError(...) from exc``). Only entry
points (the ``motcua`` commands, ``python -m streams.run``) turn these into exit codes:
:class:`LogLost` is 75 (``EX_TEMPFAIL``: recover, then restart), any other
:class:`MotcuaError` 1. ::

    MotcuaError
    ├── InputError                       bad input from people or files; the message is one
    │   │                                line naming what and where
    │   ├── InvalidEvent                 an event that breaks docs/contract.md (.reason → the DLQ)
    │   ├── BadPeriod                    a period key that is not YYYY, YYYY-MM or YYYY-Qn
    │   ├── CatalogError                 a criteria catalog file that cannot be used
    │   └── RegistryError                a unit registry file that cannot be used
    └── PipelineError                    the running pipeline cannot go on safely
        ├── BrokerError                  the embedded broker could not be started
        ├── TopicMismatch                an existing topic differs from its declaration
        ├── LogLost                      the broker lost records this process had written or
        │                                stored: stop rather than publish KPIs from what is left
        ├── DeliveryFailed               the broker did not acknowledge a record we produced
        ├── StoreError                   the SQL store could not be read or written now (the
        │                                sink retries; nothing is committed meanwhile)
        ├── FormatError                  a pipeline record in a format this version does
        │                                not read (a newer worker wrote it): stop, not misread
        └── NotIdle                      the pipeline did not catch up before a deadline

The input errors keep :class:`ValueError` as a second base and :class:`NotIdle` keeps
:class:`TimeoutError`, so callers written against the standard classes still catch them.
"""

from __future__ import annotations

EXIT_LOG_LOST = 75
"""Exit status of a worker or sink that stopped on :class:`LogLost` (``EX_TEMPFAIL``)."""


class MotcuaError(Exception):
    """The root: ``except MotcuaError`` catches everything this project raises on purpose."""

    exit_code = 1


class InputError(MotcuaError, ValueError):
    """Bad input from people or files; the message is one line naming what and where."""


class InvalidEvent(InputError):
    """An input that is not a valid event. ``reason`` is one line for people and the DLQ."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadPeriod(InputError):
    """A period key that is not ``YYYY``, ``YYYY-MM`` or ``YYYY-Qn``."""


class CatalogError(InputError):
    """A catalog file that cannot be used; the message is one line naming file and key."""


class RegistryError(InputError):
    """A unit registry file that cannot be used (names the file, line and problem)."""


class PipelineError(MotcuaError):
    """The running pipeline cannot go on safely; the message says why and what to do."""


class BrokerError(PipelineError):
    """The embedded broker could not be started (binary missing, exited, or never ready)."""


class TopicMismatch(PipelineError):
    """An existing topic differs from its declaration (e.g. its partition count)."""


class LogLost(PipelineError):
    """A partition's log ends before offsets this process already wrote or stored: the
    broker lost records (an in-memory broker restarted, a topic re-created). Going on would
    publish or store KPIs computed from what is left over the right ones."""

    exit_code = EXIT_LOG_LOST


class DeliveryFailed(PipelineError):
    """The broker did not acknowledge a record this process produced."""


class StoreError(PipelineError):
    """The SQL store could not be read or written (unreachable, locked, refused the
    statement). The message is one line, without credentials; the sink retries the same
    rows and commits no offset meanwhile."""


class FormatError(PipelineError):
    """A record of the pipeline's own topics or local state (a contributions message, a
    link, a dossier or applied table row) in a format this version does not read: written
    by a newer worker. The worker stops rather than misread it; the message names the
    record, its format and this version's (streams.wire)."""


class NotIdle(PipelineError, TimeoutError):
    """The pipeline did not become idle before the deadline (the message says how far)."""
