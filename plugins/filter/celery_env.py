"""Filters that write values into the fleet's env files (the CELERY_* contract: client/src/celery_fleet_client/env.py).

The workers' env files (roles/celery_worker/templates/etc/celery-fleet/) and the client env files
(playbooks/templates/client.env.j2) write every value through these, so that both kinds of file quote and complete
values the same way. Unit tests: tests/test_celery_env.py.
"""

import json
from urllib.parse import parse_qsl, urlsplit

# Characters that stay special inside double quotes, for systemd's EnvironmentFile= and for sh's ". file".
_ESCAPED = ("\\", '"', "$", "`")


def celery_env_quote(value):
    """``value`` as one double-quoted word that systemd (EnvironmentFile=) and sh (``. file``) both read back as is.

    Booleans are written as Python writes them in lower case (``true``/``false``), as the contract reads them.
    """
    if isinstance(value, bool):
        value = str(value).lower()
    text = str(value)
    for char in _ESCAPED:
        text = text.replace(char, "\\" + char)
    if "\n" in text:
        raise ValueError("an env file value cannot hold a line break")
    return f'"{text}"'


def celery_env_redis_tls(url, ca_certs=""):
    """A ``rediss://`` URL with the options that make Celery and kombu verify the server, other URLs as they are.

    The server's certificate must be signed by ``ca_certs`` (the system's CAs when empty) and issued for the URL's
    host name. Celery reads CELERY_BROKER_URL and CELERY_RESULT_BACKEND from the environment ahead of any setting of
    the app, so the options belong in the URL. A URL that already says ``ssl_cert_reqs`` is left as it is.
    """
    url = str(url)
    if not url.startswith("rediss://"):
        return url
    if "ssl_cert_reqs" in dict(parse_qsl(urlsplit(url).query)):
        return url
    options = "ssl_cert_reqs=required&ssl_check_hostname=true" + (f"&ssl_ca_certs={ca_certs}" if ca_certs else "")
    return url + ("&" if "?" in url else "?") + options


def celery_env_settings(fleet, broker_url, files_dir, identity):
    """The CELERY_* variables of one of the fleet's identities, as ``{name: value}`` in file order: the env contract
    (client/src/celery_fleet_client/env.py) written in one place for every env file.

    Written through ``celery_env_quote`` into the workers' env file (roles/celery_worker, identity ``identity``),
    client env files (playbooks/templates/client.env.j2) and Flower's (roles/flower). ``fleet``: what every such
    file shares (result_backend, tls, client_certs, signing, default_queue, queue_type, exchange_type, routes,
    serializer, allow_pickle, heartbeat; pool_limit, written when set and not None); ``broker_url``: the identity's
    own; ``files_dir``: the directory that holds ``broker-ca.pem`` and, with client certificates or message signing,
    ``<identity>.crt``/``.key`` and ``trusted-signers/``.
    """
    ca_certs = f"{files_dir}/broker-ca.pem" if fleet["tls"] else ""
    settings = {"CELERY_BROKER_URL": celery_env_redis_tls(broker_url, ca_certs)}
    if fleet["tls"]:
        settings["CELERY_BROKER_SSL_CA_CERTS"] = ca_certs
    if fleet["client_certs"]:
        settings["CELERY_BROKER_SSL_CERTFILE"] = f"{files_dir}/{identity}.crt"
        settings["CELERY_BROKER_SSL_KEYFILE"] = f"{files_dir}/{identity}.key"
        settings["CELERY_BROKER_LOGIN_METHOD"] = "EXTERNAL"
    if fleet["signing"]:
        settings["CELERY_SECURITY_KEY"] = f"{files_dir}/{identity}.key"
        settings["CELERY_SECURITY_CERTIFICATE"] = f"{files_dir}/{identity}.crt"
        settings["CELERY_SECURITY_CERT_STORE"] = f"{files_dir}/trusted-signers/*.crt"
    settings.update(
        {
            "CELERY_RESULT_BACKEND": celery_env_redis_tls(fleet["result_backend"], ca_certs),
            "CELERY_TASK_DEFAULT_QUEUE": fleet["default_queue"],
            "CELERY_TASK_DEFAULT_QUEUE_TYPE": fleet["queue_type"],
            "CELERY_TASK_DEFAULT_EXCHANGE_TYPE": fleet["exchange_type"],
            "CELERY_TASK_ROUTES": json.dumps(fleet["routes"]),
            "CELERY_SERIALIZER": fleet["serializer"],
            "CELERY_ALLOW_PICKLE": bool(fleet["allow_pickle"]),
            "CELERY_BROKER_HEARTBEAT": fleet["heartbeat"],
        }
    )
    if fleet.get("pool_limit") is not None:
        settings["CELERY_BROKER_POOL_LIMIT"] = fleet["pool_limit"]
    return settings


class FilterModule:
    def filters(self):
        return {
            "celery_env_quote": celery_env_quote,
            "celery_env_redis_tls": celery_env_redis_tls,
            "celery_env_settings": celery_env_settings,
        }
