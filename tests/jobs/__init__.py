"""Each job through the runner on a real database: the KPI, the reports, the accounts
receivable, exchange rates, imports, sheets, demo data, and the characterisation fixtures."""
