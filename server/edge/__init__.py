"""What sits between the network and the services: the interceptors, auth and API keys, rate
limits, metrics, tracing and log redaction. ``parts.Edge`` builds them from the configuration."""
