"""Live checks: what the running daemons serve over the network, implicit TLS and STARTTLS."""
