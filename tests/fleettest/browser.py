"""A real browser for the tests: Debian's headless Chromium, driven by selenium through Debian's chromedriver (no
browser download), trusting exactly the certificates it is given."""

import base64
import contextlib
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def spki_pin(certificate):
    """The base64 SHA-256 of a PEM certificate's public key (SPKI), as Chromium's certificate pins name it."""
    cert = x509.load_pem_x509_certificate(Path(certificate).read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@contextlib.contextmanager
def chromium(trusted_certificates=(), window=(1280, 900)):
    """A headless Chromium; HTTPS servers presenting one of ``trusted_certificates`` (PEM paths: the fleet's own, whose
    CA this machine does not trust) are accepted, every other certificate error still fails the page."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # The network events, from which status_of reads the HTTP status of a page.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={window[0]},{window[1]}", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(argument)
    pins = ",".join(spki_pin(path) for path in trusted_certificates)
    if pins:
        options.add_argument(f"--ignore-certificate-errors-spki-list={pins}")
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def send_login(driver, user, password):
    """Send HTTP basic authentication with every request the page makes from now on (pages, XHRs), as a browser
    does once its user typed the login into the prompt."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})


def forget_login(driver):
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})


def status_of(driver, url):
    """Load ``url`` as the page and return the HTTP status the browser received for it (from its network events)."""
    import json

    driver.get_log("performance")  # what earlier pages logged
    driver.get(url)
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.responseReceived" and message["params"]["response"]["url"] == url:
            return message["params"]["response"]["status"]
    return None
