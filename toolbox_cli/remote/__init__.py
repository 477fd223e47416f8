"""What the toolbox asks of other services over HTTP (exchange-rate providers)."""
