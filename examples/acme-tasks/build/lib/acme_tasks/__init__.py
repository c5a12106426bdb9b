"""Acme's Celery tasks: an example of a tasks package you bring to celery-fleet."""
