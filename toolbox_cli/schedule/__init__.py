"""The schedule: when each task runs (``slots``: Lima cron expressions, their host-time
conversion, descriptions and next runs) and its entries in the system crontab
(``entries``). No Typer here: ``cli/cmd_schedule.py`` is the thin shell around it.
"""
