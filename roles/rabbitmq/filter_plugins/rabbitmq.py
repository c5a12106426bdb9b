"""Filters of the rabbitmq role: the firewall's address sets and the users' checks.

Used by the role's vars/main.yml and tasks/preflight.yml; unit tests in tests/test_rabbitmq_filters.py.
"""

import ipaddress


def rabbitmq_resolved_names(getent_results):
    """Host name -> its addresses, from the registered results of ``getent ahosts NAME`` (a loop over names).

    getent prints lines such as "10.89.0.5  STREAM worker1"; a name that did not resolve (rc != 0) is left out.
    """
    resolved = {}
    for result in getent_results:
        if result.get("rc", 1) != 0:
            continue
        addresses = []
        for line in result.get("stdout_lines", []):
            fields = line.split()
            if fields and fields[0] not in addresses:
                addresses.append(fields[0])
        resolved[result["item"]] = addresses
    return resolved


def rabbitmq_firewall_sets(sources_by_set, resolved):
    """{set name: sources} -> {set name: {v4: [...], v6: [...]}}: addresses and networks, host names resolved.

    A source is an address, a network ("10.0.0.0/24") or a host name looked up in ``resolved`` (from
    ``rabbitmq_resolved_names``); a name missing there is kept as it is.
    """
    result = {}
    for name, sources in sources_by_set.items():
        addresses = set()
        for source in sources:
            addresses.update(resolved.get(source, [source]))
        result[name] = {
            "v4": sorted(a for a in addresses if ":" not in a),
            "v6": sorted(a for a in addresses if ":" in a),
        }
    return result


def rabbitmq_is_address(source):
    """Whether a firewall source is an address or a network (not a host name to resolve)."""
    try:
        ipaddress.ip_network(source, strict=False)
    except ValueError:
        return False
    return True


def rabbitmq_host_names(sources):
    """The firewall sources that are host names, to be resolved on the broker: each once, in order."""
    names = []
    for source in sources:
        if not rabbitmq_is_address(source) and source not in names:
            names.append(source)
    return names


def rabbitmq_users_without_password(users):
    """Names of the present users that have no (or an empty) password."""
    return [user["name"] for user in users if user.get("state", "present") == "present" and not user.get("password")]


class FilterModule:
    """The rabbitmq role's filters."""

    def filters(self):
        return {
            name: function
            for name, function in globals().items()
            if name.startswith("rabbitmq_") and callable(function)
        }
