"""The input side: merchant exports and review files read into the input contract.

Modules, in the order a load uses them (import each name from its module):

* :mod:`~detector.input.schema` - the contract's column names and types.
* :mod:`~detector.input.spec` - :class:`InputSpec`, how to read a scan's input.
* :mod:`~detector.input.files` - paths resolved into files, each opened (Parquet, CSV, Excel).
* :mod:`~detector.input.windows` - time zones and the ``[since, until)`` window.
* :mod:`~detector.input.presets`, :mod:`~detector.input.headers` - headers onto contract names.
* :mod:`~detector.input.identities`, :mod:`~detector.input.derive` - columns an export
  leaves out (review id, shop, pseudo-accounts), :mod:`~detector.input.orders` - the
  order export joined on the order id.
* :mod:`~detector.input.values`, :mod:`~detector.input.normalise` - values as exports
  write them, in contract types, with the reason a row is rejected.
* :mod:`~detector.input.plan`, :mod:`~detector.input.load` - the lazy plan of a load, and
  :func:`~detector.input.load.load_reviews`; :mod:`~detector.input.rejects` - rejected
  rows counted, and :class:`~detector.input.rejects.NoRowsError`.

The package imports nothing on its own, so that naming a column
(``detector.input.schema``) does not load the readers.
"""
