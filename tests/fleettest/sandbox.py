"""How exposed a systemd unit is, as ``systemd-analyze security`` rates its sandbox."""

import re

# The highest exposure systemd-analyze still rates "OK".
OK_EXPOSURE = 4.9


def exposure(host, unit):
    """The exposure score of ``unit`` (a name without .service) on the testinfra ``host``, and the report's line."""
    report = host.check_output(f"systemd-analyze security --no-pager {unit}.service | tail -1")
    return float(re.search(r"exposure level for \S+: ([0-9.]+)", report).group(1)), report
