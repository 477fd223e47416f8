"""Whole processes: kill -9 and SIGTERM mid-run, a database restarting, two hosts, the real
cron daemon."""
