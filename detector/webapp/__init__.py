"""``review-detector serve``: a local web app for merchants and a JSON API for teams.

Upload a seller-centre export (or point at a folder of them under ``--data``),
watch its scan run in the background, see the shop's days with and without
the reviews in cases, the monitor's alerts and the cases with their reasons,
and build an appeal packet for a platform in one click.

Modules: :mod:`~detector.webapp.command` (the subcommand; imports no web
framework until it runs), :mod:`~detector.webapp.app` (FastAPI routes),
:mod:`~detector.webapp.store` (the data folder), :mod:`~detector.webapp.jobs`
(background scans and their progress), :mod:`~detector.webapp.dashboard`
(what a finished scan shows), :mod:`~detector.webapp.charts` (SVG charts),
:mod:`~detector.webapp.security`, :mod:`~detector.webapp.i18n`. Needs the
``web`` extra (fastapi, uvicorn, python-multipart).
"""
