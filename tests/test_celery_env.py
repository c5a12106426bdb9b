"""plugins/filter/celery_env.py: env file values that sh, systemd and the client library read back unchanged."""

import subprocess

import pytest
from celery_env import celery_env_quote, celery_env_redis_tls
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
