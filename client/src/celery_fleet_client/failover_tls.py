"""Each broker connection checks its own broker's name: a workaround for kombu's shared TLS options.

kombu (5.7 and earlier) fills in a ``server_hostname`` of ``None`` with the host of the URL it connects to, and it
does so in place, in the ``broker_use_ssl`` dict that every connection of a Celery app shares. The first connection
therefore pins the name: every later one, to another node of a cluster (failover, or Celery's delayed-delivery
setup, which connects to each URL of ``broker_url`` in turn), checks the first node's name against the other node's
certificate and fails with "Hostname mismatch". ``apply`` makes kombu's AMQP transport fill in a copy of the
options for each connection instead, so that each one is verified against the host it dials. The molecule
cluster's verifier proves it (molecule/tests/1_fleet/test_cluster.py).
"""

from functools import wraps

_MARK = "_celery_fleet_per_connection_tls"


def _per_connection(establish_connection):
    @wraps(establish_connection)
    def establish(transport):
        connection = transport.client
        shared = connection.ssl
        if not (isinstance(shared, dict) and "server_hostname" in shared and shared["server_hostname"] is None):
            return establish_connection(transport)
        # kombu writes this connection's host into the copy; the shared options keep None for the next one.
        connection.ssl = dict(shared)
        try:
            return establish_connection(transport)
        finally:
            connection.ssl = shared

    setattr(establish, _MARK, True)
    return establish


def apply():
    """Give every AMQP connection its own TLS options (idempotent)."""
    from kombu.transport import pyamqp

    if not getattr(pyamqp.Transport.establish_connection, _MARK, False):
        pyamqp.Transport.establish_connection = _per_connection(pyamqp.Transport.establish_connection)
