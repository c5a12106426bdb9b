"""Invoice tasks, in a sub-package."""

from acme_tasks.celery import app


@app.task(name="acme.billing.total")
def total(amounts, tax_rate=0.0):
    """Return the total of ``amounts`` with ``tax_rate`` applied, rounded to cents."""
    return round(sum(amounts) * (1 + tax_rate), 2)
