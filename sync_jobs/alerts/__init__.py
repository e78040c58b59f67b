"""Alerts: the outbox, routing, and one module per delivery channel."""
