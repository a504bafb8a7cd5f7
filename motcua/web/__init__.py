"""``motcua web``: the pages for the people who are scored (server-rendered, Vietnamese).

* :mod:`motcua.web.auth`: passwords (argon2), signed session cookies, CSRF, login limits;
* :mod:`motcua.web.data`: the reports the pages show — the one function that
  ``motcua report --db`` uses (:func:`motcua.commands.report.report_from_store`);
* :mod:`motcua.web.warnings`: the work lists, judged at request time from the ledger;
* :mod:`motcua.web.fmt`, :mod:`motcua.web.svg`: Vietnamese formats, server-side charts;
* :mod:`motcua.web.app`: the FastAPI application (routes and templates).
"""
