"""Loyalty: points and coupons."""
