#!/usr/bin/env bash
# Build the local Debian base image that molecule and the lab boot with systemd as PID 1.
# No container registry is reachable from our machines, so the image is made with debootstrap
# from Debian's own package archive and imported into podman. Reused when it already exists.
#
# usage: scripts/base-image.sh [bookworm|trixie]     (default: bookworm)
set -euo pipefail

suite="${1:-${FLEET_DISTRO:-bookworm}}"
case "$suite" in
  bookworm|trixie) ;;
  *) echo "base-image: unsupported Debian suite '$suite' (use bookworm or trixie)" >&2; exit 2 ;;
esac
image="localhost/celery-fleet-base:${suite}"

if podman image exists "$image"; then
  echo "base-image: $image already present"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "base-image: debootstrap is missing (run 'make deps')" >&2; exit 1; }

rootfs="$(mktemp -d "${TMPDIR:-/var/tmp}/celery-fleet-rootfs.XXXXXX")"
trap 'rm -rf "$rootfs"' EXIT

# Packages a plain Debian server has and Ansible needs to manage it; everything the fleet itself needs
# (RabbitMQ, python3-venv, ...) is installed by the roles, as on a real machine.
include="systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,procps,sudo,ca-certificates"

start=$SECONDS
echo "base-image: debootstrap $suite (about 75 s, once per machine)"
# The mirror is the debootstrap default, i.e. Debian's own archive, the same one apt on the host uses.
debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" >"$rootfs.log" 2>&1 || {
  tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# Make it boot cleanly as a container: no getty on a console that does not exist, a machine-id per container.
rm -f "$rootfs/etc/machine-id" && touch "$rootfs/etc/machine-id"
ln -sf /dev/null "$rootfs/etc/systemd/system/getty@tty1.service"
ln -sf /dev/null "$rootfs/etc/systemd/system/console-getty.service"
apt-get -o Dir="$rootfs" clean 2>/dev/null || true
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
# An empty package list must look stale, so that the first "apt update_cache/cache_valid_time" refreshes it.
touch -d @0 "$rootfs/var/lib/apt/lists"

tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' - "$image" >/dev/null
echo "base-image: built $image in $((SECONDS - start)) s"
