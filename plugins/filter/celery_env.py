"""Filters that write values into the fleet's env files (the CELERY_* contract: client/src/celery_fleet_client/env.py).

The workers' env files (roles/celery_worker/templates/etc/celery-fleet/) and the client env files
(playbooks/templates/client.env.j2) write every value through these, so that both kinds of file quote and complete
values the same way. Unit tests: tests/test_celery_env.py.
"""

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


class FilterModule:
    def filters(self):
        return {"celery_env_quote": celery_env_quote, "celery_env_redis_tls": celery_env_redis_tls}
