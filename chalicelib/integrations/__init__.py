"""Integrations: what Enclave offers integrators (audit log, event subscriptions, imports
and exports)."""
