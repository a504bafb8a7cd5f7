"""Soak run: a sustained, paced event stream through the whole embedded stack.

One run starts its own embedded broker, the stream worker (``python -m streams.run``, a
child process), the SQL sink and the ``/metrics`` endpoint (threads of this process, as in
``motcua demo``), then produces simulated events at a steady rate for a fixed time while it
watches the stack, and finally checks that nothing was lost, duplicated or miscounted.

**Events.** Before the clock starts, a child process writes the stream to a JSONL file:
chunks of :func:`kpi.simulate.generate_lines` (Tân Hồng units, receipts on the last 60
days up to yesterday, shuffled, 3% duplicates, 1% invalid lines), each chunk with its own
seed and dossier-code prefix. The producer reads it back line by line; every line it sends
(plus the marker events below) is appended to ``produced.jsonl``, the exact input of the
final comparison. Valid and invalid lines go to the events topic (key = the subject when it
can be read), where the worker dead-letters the invalid ones.

**Pacing.** A token bucket: tokens accrue at ``rate`` per second of monotonic time, up to
one second's worth; each send spends one. The producer sleeps only while the bucket holds
less than one token, so sleep overshoot is paid back on the next wake-up instead of
accumulating (no per-event sleep drift). A stall longer than a second loses tokens, and the
achieved rate (sent / elapsed) shows it.

**Freshness.** Every ``marker_every`` seconds one event of the stream is a *marker*: a
``dossier.received`` timed *now* for one of ``marker_units`` dedicated units
(``SOAK.F00``…), taken round-robin; a unit gets its next marker only after its previous one
was seen at both stages, so its month's ``received`` count reaching *n* means exactly that
its *n*-th marker was counted. For each marker:

* *produced* = wall clock just before ``KafkaProducer.send`` (handed to the client, which
  still lingers ≤ 5 ms before the request);
* *snapshot* = the CreateTime timestamp of the first record on the kpi topic for
  (unit, current month) whose ``counts.received`` ≥ *n* — stamped by the worker's producer
  when it published the snapshot; a consumer in this process tails the topic to find it;
* *gauge* = wall clock when a scrape of ``/metrics`` (HTTP, every ``scrape_every`` s) first
  shows ``motcua_kpi_items{unit=…,period=<month>,kpi="received"}`` ≥ *n*: the sum of the
  worker's work, the metrics feed's consumption of the kpi topic and the scrape interval
  (so it is measured to within ``scrape_every``).

Freshness = snapshot − produced and gauge − produced (one host, one clock); the warm-up
marker sent before the clock starts is not counted.

**Watching.** Every ``report_every`` seconds a line: elapsed time, events produced, VmRSS
(``/proc/PID/status``) and CPU share of the broker, the worker and this process (which hosts
the sink, the metrics endpoint, the producer and the watchers), the lag of the pipeline's
group (events + contributions; what :func:`streams.idle.group_lag` reports) and of the
sink's group (events + DLQ + kpi), and the freshness medians of the markers seen since the
previous line.

**Checks** (each failure is a line in :attr:`SoakResult.problems`): after the producer
stops, the pipeline becomes idle (:func:`streams.idle.wait_until_idle`) and the sink's lag
reaches 0; then the latest snapshot of every report bucket (:func:`kpi.report.report_bucket`:
unit and scope, period) equals the batch report of ``produced.jsonl`` — attributed with
the settings' unit registry when ``MOTCUA_UNITS_FILE`` names one, totals included — and so
does every report the sink stored in SQL (no loss, no duplication, no miscount; the rule
of :mod:`kpi.reconcile`), the store holds exactly the
distinct valid events, the DLQ exactly one dead letter per invalid line, every marker
reached both stages, the producer saw no send error and the worker is still running.

``motcua soak --minutes 10`` runs it from the command line; the tests
(``tests/integration/test_soak.py``) run a 60-second form in ``make test`` and a long one
in ``make soak``.

Modules: :mod:`~motcua.soak.figures` (options, samples, result and its summary),
:mod:`~motcua.soak.stream` (the simulated input), :mod:`~motcua.soak.markers` (freshness),
:mod:`~motcua.soak.pacing` (the token bucket), :mod:`~motcua.soak.monitor` (RSS, CPU, lag),
:mod:`~motcua.soak.check` (the final checks) and :mod:`~motcua.soak.run` (one run).
"""

from __future__ import annotations

from motcua.soak.figures import Sample, SoakOptions, SoakResult, percentile
from motcua.soak.run import run_soak

__all__ = ["Sample", "SoakOptions", "SoakResult", "percentile", "run_soak"]
