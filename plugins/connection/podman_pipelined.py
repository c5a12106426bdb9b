# The podman connection of containers.podman, with pipelining: the test and lab containers' transport.
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt), as the plugin it extends.
"""Ansible's connection to the lab's and molecule's containers: containers.podman's, with pipelining.

containers.podman's plugin runs ``podman exec`` without ``-i``, so it cannot pipe a module to the container's Python
(``has_pipelining = False``): each task costs a temporary directory, a file copy, a chmod and a clean-up, a podman
process each. Here a module goes through ``podman exec -i`` on standard input, as the ssh connection does with
pipelining on, in one podman process; the container's file system is mounted only when a file is copied. Real
machines are reached over SSH, with pipelining on (ansible.cfg); this plugin only serves containers on this machine.
"""

DOCUMENTATION = """
    name: podman_pipelined
    short_description: Run tasks in an existing podman container, with pipelining
    description:
      - containers.podman.podman, with modules piped to the container's Python through C(podman exec -i).
    options:
      remote_addr:
        description: The name or ID of the container.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: User that runs commands in the container.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      podman_extra_args:
        description: Extra arguments to pass to the podman command line.
        default: ''
        ini:
          - section: defaults
            key: podman_extra_args
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description: Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
      pipelining:
        description: Pipe modules to the container's Python instead of copying them into it.
        type: boolean
        default: true
        env:
          - name: ANSIBLE_PIPELINING
        vars:
          - name: ansible_pipelining
"""

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection


class Connection(PodmanConnection):
    """containers.podman.podman with pipelining and a file system mounted only when a file is copied."""

    transport = "podman_pipelined"
    has_pipelining = True

    def _connect(self):
        # No `podman mount` for every task: most tasks pipe their module and copy no file.
        self._connected = True
        return self

    def _mount(self):
        if self._mount_point is None:
            super()._connect()

    @ensure_connect
    def exec_command(self, cmd, in_data=None, sudoable=False):
        """Run ``cmd`` in the container; ``in_data`` (a pipelined module) goes to its standard input."""
        super(PodmanConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        args = ["exec", "-i"] if in_data is not None else ["exec"]
        if self.user:
            args.extend(("--user", self.user))
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

    def put_file(self, in_path, out_path):
        self._mount()
        return super().put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._mount()
        return super().fetch_file(in_path, out_path)
