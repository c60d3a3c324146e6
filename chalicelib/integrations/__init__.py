"""For integrators: event subscriptions, audit log, imports and exports."""
