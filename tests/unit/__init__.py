"""Pure functions and files, no database: the formulas, the value rules, the schedule's
slots and crontab entries, the lock file."""
