"""Filters of the rabbitmq role: the firewall's address sets, the users' checks, and what the users lack.

Used by the role's vars/main.yml and tasks/preflight.yml; unit tests in tests/test_rabbitmq_filters.py.
"""

import base64
import hashlib
import hmac
import ipaddress
import os


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


# RabbitMQ's internal password hashes: base64 of a 4-byte salt followed by HASH(salt + UTF-8 password)
# (rabbit_password); the definitions name the function per user.
_HASHES = {
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
    "rabbit_password_hashing_md5": hashlib.md5,
}
DEFAULT_HASHING = "rabbit_password_hashing_sha256"
_NO_PERMISSION = "^$"


def rabbitmq_password_hash(password, hashing=DEFAULT_HASHING, salt=None):
    """The password_hash RabbitMQ stores for ``password`` ("" for none: a user who logs in by certificate only)."""
    if not password:
        return ""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + _HASHES[hashing](salt + password.encode()).digest()).decode()


def rabbitmq_password_matches(password, password_hash, hashing=DEFAULT_HASHING):
    """Whether ``password_hash`` (as RabbitMQ's definitions give it) is the hash of ``password``."""
    if not password or not password_hash:
        return not password and not password_hash
    if hashing not in _HASHES:
        return False
    stored = base64.b64decode(password_hash)
    return hmac.compare_digest(stored, base64.b64decode(rabbitmq_password_hash(password, hashing, stored[:4])))


def _tags(tags):
    # Definitions give tags as a list (3.9 and later) or a comma-separated string (earlier).
    if isinstance(tags, str):
        tags = tags.split(",")
    return sorted(tag.strip() for tag in tags if tag.strip())


def rabbitmq_access_changes(users, definitions):
    """What the broker's users lack against ``users`` (the role's rabbitmq_users), from its exported definitions.

    Returns ``{"definitions": {"users": [...], "permissions": [...]}, "permissions_to_clear": [...],
    "users_to_delete": [...]}``: definitions to import (a user missing, or whose password, hashing or tags differ,
    with a freshly salted hash; a permission missing or different), permissions to clear ({"user", "vhost"}: a
    present user's vhost that the inventory no longer lists) and the names of users to delete (marked absent, and
    guest). All empty: nothing to do. Permissions follow community.rabbitmq.rabbitmq_user's rules: an omitted regex
    is "^$"; only the listed vhosts keep permissions.
    """
    current_users = {user["name"]: user for user in definitions.get("users", [])}
    current_permissions = {
        (entry["user"], entry["vhost"]): (entry["configure"], entry["write"], entry["read"])
        for entry in definitions.get("permissions", [])
    }
    changes = {"definitions": {"users": [], "permissions": []}, "permissions_to_clear": [], "users_to_delete": []}
    wanted_absent = {user["name"] for user in users if user.get("state", "present") == "absent"} | {"guest"}
    changes["users_to_delete"] = sorted(name for name in wanted_absent if name in current_users)
    for user in users:
        if user.get("state", "present") == "absent":
            continue
        name, password, tags = user["name"], user.get("password"), _tags(user.get("tags") or [])
        current = current_users.get(name)
        hashing = (current or {}).get("hashing_algorithm", DEFAULT_HASHING)
        if hashing not in _HASHES:
            hashing = DEFAULT_HASHING
        if (
            current is None
            or not rabbitmq_password_matches(password, current.get("password_hash", ""), hashing)
            or _tags(current.get("tags") or []) != tags
        ):
            changes["definitions"]["users"].append(
                {
                    "name": name,
                    "password_hash": rabbitmq_password_hash(password, hashing),
                    "hashing_algorithm": hashing,
                    "tags": tags,
                }
            )
        wanted = {}
        for permission in user.get("permissions") or []:
            wanted[permission["vhost"]] = tuple(
                permission.get(key) or _NO_PERMISSION for key in ("configure_priv", "write_priv", "read_priv")
            )
        for vhost, (configure, write, read) in sorted(wanted.items()):
            if current_permissions.get((name, vhost)) != (configure, write, read):
                changes["definitions"]["permissions"].append(
                    {"user": name, "vhost": vhost, "configure": configure, "write": write, "read": read}
                )
        changes["permissions_to_clear"].extend(
            {"user": name, "vhost": vhost}
            for (holder, vhost) in sorted(current_permissions)
            if holder == name and vhost not in wanted
        )
    return changes


class FilterModule:
    """The rabbitmq role's filters."""

    def filters(self):
        return {
            name: function
            for name, function in globals().items()
            if name.startswith("rabbitmq_") and callable(function)
        }
