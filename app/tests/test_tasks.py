import http.server
import socket
import threading

import pytest
from celery_fleet import tasks
from celery_fleet.app import app


def test_every_task_is_registered_under_its_service_prefix():
    names = {name for name in app.tasks if not name.startswith("celery.")}
    assert names == {
        "fleet.add",
        "fleet.whoami",
        "fleet.fetch_url",
        "fleet.flaky",
        "fleet.tick",
        "fleet.version",
        "fleet.sleep",
        "fleet.crash",
    }


def test_add(eager_app):
    assert tasks.add.delay(2, 3).get() == 5


def test_whoami_names_the_host(eager_app):
    result = tasks.whoami.delay().get()
    assert result["hostname"] == socket.gethostname()
    assert set(result) == {"hostname", "node", "queue"}


@pytest.fixture
def http_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(204 if self.path == "/empty" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_url_returns_the_status_code(eager_app, http_server):
    assert tasks.fetch_url.delay(f"{http_server}/empty").get() == 204


def test_fetch_url_returns_error_statuses_as_numbers(eager_app, http_server):
    assert tasks.fetch_url.delay(f"{http_server}/missing").get() == 404


def test_fetch_url_refuses_other_schemes(eager_app):
    with pytest.raises(ValueError, match="http"):
        tasks.fetch_url.delay("file:///etc/passwd").get()


def test_flaky_retries_transient_errors_then_succeeds():
    # apply() runs the task and its retries in-process (countdowns are not waited for).
    result = tasks.flaky.apply(kwargs={"failures": 2})
    assert (result.state, result.result) == ("SUCCESS", 3)


def test_flaky_gives_up_after_max_retries():
    result = tasks.flaky.apply(kwargs={"failures": tasks.flaky.max_retries + 2})
    assert result.state == "FAILURE"
    assert isinstance(result.result, tasks.TransientError)
    assert "attempt 4 fails" in str(result.result)


def test_flaky_retry_policy_backs_off():
    assert tasks.flaky.autoretry_for == (tasks.TransientError,)
    assert tasks.flaky.retry_backoff
    assert tasks.flaky.max_retries == 3


def test_tick_says_where_it_ran(eager_app):
    assert set(tasks.tick.delay().get()) == {"node", "id"}


def test_version_is_the_installed_package(eager_app):
    import celery_fleet

    assert tasks.version.delay().get() == celery_fleet.__version__


def test_sleep_waits_and_returns_the_tag(eager_app):
    result = tasks.sleep.delay(0.05, tag="t-1").get()
    assert result["tag"] == "t-1"
    assert result["retries"] == 0


def test_crash_is_retried_a_bounded_number_of_times():
    # The policy for a task that kills its process: a few quick retries, then failure (never forever).
    assert (tasks.crash.max_retries, tasks.crash.default_retry_delay) == (2, 1)
