"""Billing tasks."""
