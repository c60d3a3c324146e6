"""Paid memberships billed with Stripe: each tenant's connected account, plans (Products and
Prices on it), Checkout and Billing Portal sessions, memberships kept true to Stripe by
signed webhooks (deduped, reordered safely) and an hourly reconciliation, renewal
reminders, plan benefits and plan-granted tiers, membership analytics.

``routes`` is the HTTP layer, ``service`` the tenant-facing rules, ``state`` the pure
membership rules (ordering, transitions, entitlement), ``apply`` the writes that follow a
Stripe observation, ``webhooks`` and ``reconcile`` the two ways observations arrive,
``store`` the items, ``gateway`` the Stripe port and its adapters.
"""
