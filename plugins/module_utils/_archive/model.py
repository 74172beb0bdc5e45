# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docker-archive that a bundle's tarballs form together.

Members arrive tarball by tarball; this model remembers where each came from
(a name in two tarballs is an error), keeps the small metadata files, and at
the end checks that they describe one complete, consistent image.
"""

from __future__ import annotations

import collections
import hashlib

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.limits import MAX_JSON_CONTAINERS, MAX_LAYERS
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import read_small
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name, same_image
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import is_digest

# What a loader needs to commit an image: its config, its layers' diff ids
# bottom to top with their legacy ids, and the names it is to be known by.
Image = collections.namedtuple("Image", "config_bytes image_id diff_ids legacy_ids repo_tags")


class DockerArchive(object):
    """Members of one docker-archive, gathered from the tarballs of a bundle."""

    def __init__(self):
        self._origin = {}  # member name -> tarball path
        self.manifest_bytes = None
        self.configs = {}  # config hex -> bytes
        self.layer_digests = {}  # legacy id -> digest of its layer.tar as read
        # Legacy ids of layers in tarballs left unread (the store has them
        # already), whose members cannot be seen; None: any layer may be.
        self.unread_layers = frozenset()

    def add(self, name, path):
        """Record member NAME of tarball PATH; refuse a name seen in another tarball."""
        other = self._origin.get(name)
        if other is not None:
            raise BundleError("%s is in both %s and %s: a member may be in one tarball only" % (name, other, path))
        self._origin[name] = path

    def collect(self, path, name, kind, member_id, member, tar):
        """Record member NAME of the tarball PATH as stream_tarball hands it over; keep it when it is metadata.

        Returns the bytes of manifest.json or of a config (held in memory,
        bounded), else None: layers and the rest are the caller's to read or skip.
        """
        self.add(name, path)
        if kind == "manifest":
            self.manifest_bytes = read_small(tar, member, path)
            return self.manifest_bytes
        if kind == "config":
            self.configs[member_id] = read_small(tar, member, path)
            return self.configs[member_id]
        return None

    def absorb(self, other):
        """Take in the members of OTHER, the archive of one tarball read on its own."""
        for name, path in other._origin.items():
            self.add(name, path)
        self.layer_digests.update(other.layer_digests)
        self.configs.update(other.configs)
        if other.manifest_bytes is not None:
            self.manifest_bytes = other.manifest_bytes

    def origin(self, name):
        return self._origin.get(name, "the bundle")

    def expected_diff_ids(self):
        """{legacy id: diff id} from manifest.json and the config, once both are read; else {}."""
        try:
            entry = self._manifest_entries()[0]
            config = self._config_document(entry)
        except (BundleError, IndexError):
            return {}
        diff_ids = config["rootfs"]["diff_ids"]
        return dict(zip((_legacy_id(layer) for layer in entry["Layers"]), diff_ids))

    def image(self, name, layer_in_store):
        """The image NAME of this archive, after every consistency check.

        LAYER_IN_STORE(diff_id) tells whether a layer no tarball held (or that
        the loader skipped) is already in the destination.
        """
        entry = self.entry_for(name)
        config_bytes = self.config_bytes(entry)
        config = self._config_document(entry)
        diff_ids = config["rootfs"]["diff_ids"]
        legacy_ids = [_legacy_id(layer) for layer in entry["Layers"]]
        if len(legacy_ids) != len(diff_ids):
            raise BundleError(
                "manifest.json in %s lists %d layers, but the config %s lists %d diff ids"
                % (self.origin("manifest.json"), len(legacy_ids), entry["Config"], len(diff_ids))
            )
        for legacy, diff_id in zip(legacy_ids, diff_ids):
            member = legacy + "/layer.tar"
            digest = self.layer_digests.get(legacy)
            unread = self.unread_layers is None or legacy in self.unread_layers
            if member not in self._origin and not (unread and layer_in_store(diff_id)):
                # As docker load refuses it: manifest.json names a file the archive does not hold.
                raise BundleError("layer %s listed in manifest.json in %s is missing: none of the tarballs holds it"
                                  % (member, self.origin("manifest.json")))
            if digest is None and not layer_in_store(diff_id):
                raise BundleError("layer %s listed in manifest.json is missing: none of the tarballs holds it" % member)
            if digest is not None and digest != diff_id:
                raise BundleError(
                    "layer %s in %s has sha256 %s, but the image config expects %s"
                    % (member, self.origin(member), digest, diff_id)
                )
        repo_tags = []
        for tag in entry.get("RepoTags") or []:
            try:
                repo_tags.append(normalize_name(tag))
            except BundleError as exc:  # docker load refuses the whole archive for it, too
                raise BundleError("manifest.json in %s has the RepoTag %r, which is no image name: %s"
                                  % (self.origin("manifest.json"), tag, exc))
        return Image(config_bytes, entry["Config"][:-len(".json")], list(diff_ids), legacy_ids, repo_tags)

    def _manifest_entries(self):
        if self.manifest_bytes is None:
            raise BundleError("manifest.json is missing: the app tarball must hold it")
        _check_json_size(self.manifest_bytes, "manifest.json in %s" % self.origin("manifest.json"))
        try:
            entries = json_text.loads(self.manifest_bytes.decode("utf-8"))
        except ValueError as exc:
            raise BundleError("manifest.json in %s is not valid JSON: %s" % (self.origin("manifest.json"), exc))
        if not isinstance(entries, list) or not all(_valid_entry(e) for e in entries):
            raise BundleError("manifest.json in %s is not a docker-archive manifest" % self.origin("manifest.json"))
        return entries

    def entry_for(self, name):
        """The manifest.json entry whose RepoTags hold NAME; a lone image under other tags is refused too."""
        entries = self._manifest_entries()
        for entry in entries:
            if any(same_image(tag, name) for tag in entry.get("RepoTags") or []):
                return entry
        tags = sorted(tag for entry in entries for tag in entry.get("RepoTags") or [])
        raise BundleError(
            "image %s is not among the RepoTags %s of manifest.json in %s"
            % (name, ", ".join(tags) or "(none)", self.origin("manifest.json"))
        )

    def config_bytes(self, entry):
        """The bytes of the config ENTRY names, checked against its name."""
        hexdigest = entry["Config"][:-len(".json")]
        data = self.configs.get(hexdigest)
        if data is None:
            raise BundleError("the image config %s named by manifest.json is in none of the tarballs" % entry["Config"])
        actual = hashlib.sha256(data).hexdigest()
        if actual != hexdigest:
            raise BundleError(
                "the image config %s in %s does not match its name: its sha256 is %s"
                % (entry["Config"], self.origin(entry["Config"]), actual)
            )
        return data

    def _config_document(self, entry):
        data = self.config_bytes(entry)
        _check_json_size(data, "the image config %s in %s" % (entry["Config"], self.origin(entry["Config"])))
        try:
            config = json_text.loads(data.decode("utf-8"))
            diff_ids = config["rootfs"]["diff_ids"]
        except (ValueError, KeyError, TypeError):
            raise BundleError("the image config %s has no rootfs.diff_ids" % entry["Config"])
        if not isinstance(config, dict) or not isinstance(config.get("os", ""), str):
            raise BundleError("the image config %s is not an image config (its os is not a string)" % entry["Config"])
        if isinstance(diff_ids, list) and len(diff_ids) > MAX_LAYERS:
            raise BundleError("the image config %s in %s lists %d layers, more than the %d allowed"
                              % (entry["Config"], self.origin(entry["Config"]), len(diff_ids), MAX_LAYERS))
        if not isinstance(diff_ids, list):
            raise BundleError("the image config %s in %s has malformed rootfs.diff_ids: not a list"
                              % (entry["Config"], self.origin(entry["Config"])))
        for diff_id in diff_ids:
            # A diff id becomes a blob's path in a store: only a well-formed digest may.
            if not is_digest(diff_id):
                raise BundleError("the image config %s in %s has malformed rootfs.diff_ids: %r is not"
                                  " 'sha256:' followed by 64 lower-case hex digits"
                                  % (entry["Config"], self.origin(entry["Config"]), str(diff_id)[:100]))
        return config


def _check_json_size(data, what):
    """Refuse JSON that would take far more memory parsed than it takes as bytes."""
    if data.count(b"{") + data.count(b"[") > MAX_JSON_CONTAINERS:
        raise BundleError("%s holds more than %d JSON objects and arrays" % (what, MAX_JSON_CONTAINERS))


def _valid_entry(entry):
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("Config"), str)
        and len(entry["Config"]) == 64 + len(".json")
        and entry["Config"].endswith(".json")
        and isinstance(entry.get("Layers"), list)
        and all(isinstance(layer, str) and layer.endswith("/layer.tar") and len(layer) == 64 + len("/layer.tar")
                for layer in entry["Layers"])
        and isinstance(entry.get("RepoTags") or [], list)
    )


def _legacy_id(layer_member):
    return layer_member.split("/", 1)[0]
