"""Pure functions on Polars frames (no I/O, no clock): the jobs' formulas and the rules
every job and import shares, each rule in one home:

- ``ruc``: every rule about a RUC (stored text, matching key, the 11 digits, check digit);
- ``spellings``: codes, currencies, operation and payment types (decisions 10, 20);
- ``text``: the strict rules for one typed cell (imports, command-line dates): an error,
  never a guess;
- ``cells``: the legacy's lenient rules for source cells (a blank amount is 0, …), counted
  in a ``CoercionLog``;
- ``payments``: which payment (refund) of a document is current (decision 3);
- the jobs: ``kpi`` (with ``kpi_inputs``, ``kpi_reference``, ``kpi_formulas``),
  ``nuevos_clientes``, ``saldos``, ``cxc`` (with ``cxc_fields``).
"""
