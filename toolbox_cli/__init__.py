"""toolbox: refreshes the factoring datamart from the command line and cron."""

__version__ = "0.1.0"
