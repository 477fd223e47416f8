"""Runs that are not registered tasks: ad-hoc work a person starts at a terminal, never
scheduled nor monitored, that still goes through the runner (a ledger row, its locks):

- ``imports``: ``toolbox import KIND SOURCE``, a file or a sheet's URL into a source table;
- ``demo``: ``toolbox demo``, synthetic data into every source table.
"""
