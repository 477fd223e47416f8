"""Storage: engines, the table registry (``tables/``), the source readers (``sources``,
``frames``), the datamart writer (``writer``, ``staging``), the guard, the table locks, run
scratch files and the ledger's migrations. Imports neither tasks nor compute.
"""
