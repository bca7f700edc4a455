"""Local stand-ins for the outside world (HTTP gateways, SMTP sinks) used by tests and bench/:
providers are never reached over the network in tests."""
