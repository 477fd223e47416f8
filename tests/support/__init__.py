"""Helpers the tests share (fixtures are in ``tests/conftest.py``): loopback servers and
ports (``loopback``), running a registered task (``runs``), the CLI runner (``cli``), the
toolbox as a process (``processes``)."""
