"""Telling a person, derived from the ledger and the schedule when read:

- ``housekeeping``: what every command does first: dead runs reaped, missed slots noticed;
- ``monitor``: late runs, missed slots and the problems ``status --check`` reports;
- ``freshness``: how old each task's tables are, installed slots that never fired;
- ``alerts``: notifications (Apprise) and health pings;
- ``metrics``: the Prometheus exposition;
- ``runlog``: every run's log file; ``cronmail``: what cron mails when a run fails.
"""
