# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every container engine implements: the interface flow.py (load) and lifecycle.py (remove, prune) use.

An engine is reached through its command line (see cli.py). A new engine is a
subclass of Engine in this folder, named in ENGINE_CLASSES of
_store/registry.py; Python refuses to make one that lacks a method below.
"""

from __future__ import annotations

import abc

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError


class Engine(abc.ABC):
    """One container engine instance, as its CLI (EXECUTABLE) and connection settings reach it."""

    label = None  # its name in messages: "podman"
    default_executable = None  # the CLI found on PATH when no executable is given: "podman"

    def __init__(self, executable=None, namespace=None):
        self.executable = executable or self.default_executable

    @abc.abstractmethod
    def reference(self, name):
        """NAME (normalized) as the engine spells it once loaded: podman's 'localhost/app:1' for 'app:1'."""

    @abc.abstractmethod
    def inspect(self, ref):
        """{"id" (64 hex), "repo_tags", "layers", "size"} of the image named REF, or None when it holds none."""

    def inspect_known(self, ref, known):
        """The facts of REF, as inspect() gives them; KNOWN is what a load remembered of it (memory.py).

        An engine whose names point at content (containerd: a manifest digest)
        can answer from one listing when the name still points where it did
        after the load: the content, and so the facts, cannot have changed.
        The others ask inspect(), which is one command already.
        """
        return self.inspect(ref)

    @abc.abstractmethod
    def held(self):
        """{name: token} of every name the engine holds, in one command.

        The token changes when the name moves to another image (an image id,
        or what the engine lists instead); the load compares two of these to
        say whether it changed anything.
        """

    @abc.abstractmethod
    def load(self, write):
        """Run the engine's load, WRITE(sink) writing the docker-archive; return the bytes handed over.

        When WRITE raises, the engine must end holding nothing of the archive
        (see cli.feeding and cli.load_through_file), and the error is raised.
        """

    @abc.abstractmethod
    def tag(self, source, target):
        """Give the image named SOURCE the further name TARGET."""

    @abc.abstractmethod
    def remove(self, ref):
        """Remove the name REF without force; a BundleError when the engine refuses (a container uses it)."""

    @abc.abstractmethod
    def images(self):
        """[{"name", "id", "created"}] of every name the engine holds; "created" from the image config."""

    @abc.abstractmethod
    def address(self):
        """What tells this engine instance from others on the host: its daemon's socket, its storage settings.

        Part of the key under which a load is remembered (see memory.py).
        """

    def save_command(self, names):
        """The argv that writes NAMES as one docker-archive to stdout; engines that can export override it."""
        raise BundleError("%s cannot be a source of a save" % self.label)
