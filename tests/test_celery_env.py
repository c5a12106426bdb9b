"""plugins/filter/celery_env.py: env file values that sh, systemd and the client library read back unchanged."""

import json
import subprocess

import pytest
from celery_env import celery_env_quote, celery_env_redis_tls, celery_env_settings
from celery_fleet_client import read_env_file

AWKWARD = ["plain", "sp ace", 'a"b', "it's", "back\\slash", "$HOME and ${X}", "`id`", '{"fleet.*": "io"}', ""]


@pytest.mark.parametrize("value", AWKWARD)
def test_sh_reads_a_quoted_value_back_as_it_was(tmp_path, value):
    path = tmp_path / "x.env"
    path.write_text(f"CELERY_X={celery_env_quote(value)}\n")
    shell = subprocess.run(
        ["sh", "-c", '. "$1" && printf %s "$CELERY_X"', "sh", str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
    )
    assert shell.stdout == value
    assert read_env_file(path) == {"CELERY_X": value}


def test_booleans_are_written_in_the_contracts_spelling():
    assert celery_env_quote(True) == '"true"'
    assert celery_env_quote(False) == '"false"'
    assert celery_env_quote(10) == '"10"'


def test_a_line_break_is_refused():
    with pytest.raises(ValueError, match="line break"):
        celery_env_quote("a\nb")


def test_a_rediss_url_gets_the_options_that_verify_the_server():
    assert celery_env_redis_tls("rediss://:pw@redis:6380/0", "/etc/celery-fleet/broker-ca.pem") == (
        "rediss://:pw@redis:6380/0?ssl_cert_reqs=required&ssl_check_hostname=true"
        "&ssl_ca_certs=/etc/celery-fleet/broker-ca.pem"
    )
    assert celery_env_redis_tls("rediss://redis:6380/0?x=1") == (
        "rediss://redis:6380/0?x=1&ssl_cert_reqs=required&ssl_check_hostname=true"
    )


@pytest.mark.parametrize(
    "url", ["amqps://u:p@mq:5671/fleet", "redis://redis:6379/0", "rpc://", "rediss://r:6380/0?ssl_cert_reqs=none"]
)
def test_other_urls_are_left_as_they_are(url):
    assert celery_env_redis_tls(url, "/ca.pem") == url


FLEET = {
    "result_backend": "rpc://",
    "tls": True,
    "client_certs": False,
    "signing": False,
    "default_queue": "celery",
    "queue_type": "quorum",
    "exchange_type": "topic",
    "routes": {"fleet.fetch_*": "io", "fleet.add": {"queue": "celery"}},
    "serializer": "json",
    "allow_pickle": False,
    "heartbeat": "10",
}


def test_client_settings_name_the_identitys_url_and_the_ca_in_its_directory():
    settings = celery_env_settings(FLEET, "amqps://fleet-client:pw@broker:5671/fleet", "/d", "client")
    assert settings["CELERY_BROKER_URL"] == "amqps://fleet-client:pw@broker:5671/fleet"
    assert settings["CELERY_BROKER_SSL_CA_CERTS"] == "/d/broker-ca.pem"
    assert "CELERY_BROKER_LOGIN_METHOD" not in settings and "CELERY_SECURITY_KEY" not in settings
    assert json.loads(settings["CELERY_TASK_ROUTES"]) == FLEET["routes"]
    assert list(json.loads(settings["CELERY_TASK_ROUTES"])) == ["fleet.fetch_*", "fleet.add"]  # order kept
    assert settings["CELERY_ALLOW_PICKLE"] is False


def test_client_certificates_and_signing_use_the_identitys_own_files():
    fleet = dict(FLEET, client_certs=True, signing=True)
    settings = celery_env_settings(fleet, "amqps://broker:5671/fleet", "/etc/celery-fleet/flower", "monitor")
    assert settings["CELERY_BROKER_SSL_CERTFILE"] == "/etc/celery-fleet/flower/monitor.crt"
    assert settings["CELERY_BROKER_SSL_KEYFILE"] == "/etc/celery-fleet/flower/monitor.key"
    assert settings["CELERY_BROKER_LOGIN_METHOD"] == "EXTERNAL"
    assert settings["CELERY_SECURITY_KEY"] == "/etc/celery-fleet/flower/monitor.key"
    assert settings["CELERY_SECURITY_CERT_STORE"] == "/etc/celery-fleet/flower/trusted-signers/*.crt"


def test_without_tls_no_ca_and_redis_urls_stay_as_they_are():
    fleet = dict(FLEET, tls=False, result_backend="redis://:pw@redis:6379/1")
    settings = celery_env_settings(fleet, "redis://:pw@redis:6379/0", "/d", "client")
    assert "CELERY_BROKER_SSL_CA_CERTS" not in settings
    assert settings["CELERY_RESULT_BACKEND"] == "redis://:pw@redis:6379/1"


def test_the_client_library_reads_the_written_settings_back(tmp_path):
    settings = celery_env_settings(FLEET, "amqps://fleet-client:p%40ss@broker:5671/fleet", "/d", "client")
    path = tmp_path / "client.env"
    path.write_text("".join(f"{name}={celery_env_quote(value)}\n" for name, value in settings.items()))
    spelled = {True: "true", False: "false"}
    assert read_env_file(path) == {
        name: spelled[value] if isinstance(value, bool) else str(value) for name, value in settings.items()
    }


def test_the_pool_limit_is_written_only_when_set():
    assert "CELERY_BROKER_POOL_LIMIT" not in celery_env_settings(FLEET, "amqps://broker/fleet", "/d", "identity")
    assert "CELERY_BROKER_POOL_LIMIT" not in celery_env_settings(dict(FLEET, pool_limit=None), "amqp://b/", "/d", "x")
    settings = celery_env_settings(dict(FLEET, pool_limit=2), "amqps://broker/fleet", "/etc/celery-fleet", "identity")
    assert settings["CELERY_BROKER_POOL_LIMIT"] == 2
    assert list(settings)[-1] == "CELERY_BROKER_POOL_LIMIT"
