"""The work of each job, one module per job: extract → compute → load, read top to bottom.

A task module (``tasks/``) says what a job is (its spec, parameters, schedule) and calls
its pipeline here; the pipeline reads the source frames (``storage/sources.py``), computes
with the pure functions of ``compute/`` and ``add``s the output frames to the tables it
replaces (``ctx.replace_tables``), so where each read and each computation happens is
visible in the pipeline's own loop:

- ``kpi``: the KPI stream of ``kpi``, ``kpi-acumulado`` and ``tablas-reportes``;
- ``reportes``: ``tablas-reportes``' three tables and its ``actualizacion_reportes`` row;
- ``cxc``: ``tablas-cxc``' three tables;
- ``tipo_cambio``: the missing exchange rates, from the provider;
- ``records``: records of an import kind into their source table (a file, a sheet);
- ``sheets``: the analysts' sheets into their tables (``hojas``, and ``--hojas`` first).
"""
