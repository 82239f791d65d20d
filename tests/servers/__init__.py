"""Real servers on 127.0.0.1 for the connector tests and the remote benchmark, one module each."""
