"""The commands as a person, cron or a monitor runs them: output, exit codes, the terminal,
the schedule, notifications and the cron wrapper."""
