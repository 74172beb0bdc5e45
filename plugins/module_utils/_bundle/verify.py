# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check a bundle's tarballs without loading them: nothing is written anywhere.

Each tarball is read once, front to back, as a load reads it: its compressed
bytes hashed, every member validated, each layer.tar hashed as it is read past.
What an app's tarballs hold together is then checked as one docker-archive:
complete, every layer matching the config's diff ids, the config its digest.
"""

from __future__ import annotations

import collections

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import stream_tarball
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import sha256_of_file, sha256_of_reader
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.model import DockerArchive
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.index import checksum_error
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason

# What one read of a tarball found: the sha256 of its bytes, and its members
# as a DockerArchive of their own (layers hashed, not kept).
TarballFacts = collections.namedtuple("TarballFacts", "sha256 archive")

# The outcome for one tarball: its facts (None when it could not be read
# through) and the error (None when its sha256 is the index's and it is valid).
TarballCheck = collections.namedtuple("TarballCheck", "facts error")


def check_tarball(tarball):
    """Read TARBALL (an _bundle_index.Tarball) once; return its TarballCheck."""
    try:
        facts = read_tarball(tarball.path)
    except BundleError as exc:
        # A wrong file is the likelier cause than a broken one: say so first.
        try:
            actual = sha256_of_file(tarball.path, "%s tarball" % tarball.part)
        except OSError as os_exc:
            return TarballCheck(None, "%s tarball %s cannot be read: %s" % (tarball.part, tarball.path, os_reason(os_exc)))
        except BundleError as not_a_file:
            return TarballCheck(None, str(not_a_file))
        return TarballCheck(None, checksum_error(tarball, actual) or str(exc))
    return TarballCheck(facts, checksum_error(tarball, facts.sha256))


def read_tarball(path):
    """The TarballFacts of the tarball at PATH, hashing its layers without keeping them."""
    archive = DockerArchive()

    def on_member(name, kind, member_id, member, tar):
        archive.collect(path, name, kind, member_id, member, tar)
        if kind == "layer_tar":
            archive.layer_digests[member_id] = "sha256:" + sha256_of_reader(tar.extractfile(member))

    try:
        sha256 = stream_tarball(path, on_member)
    except OSError as exc:
        raise BundleError("tarball %s cannot be read: %s" % (path, os_reason(exc)))
    return TarballFacts(sha256, archive)


def check_image(name, parts):
    """Check that the tarballs PARTS [(Tarball, TarballFacts)] of the app NAME form its whole image.

    Returns the image (see DockerArchive.image); raises BundleError naming
    what is missing or does not match.
    """
    archive = DockerArchive()
    for dummy_tarball, facts in parts:
        archive.absorb(facts.archive)
    return archive.image(name, lambda diff_id: False)
