# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options that check a bundle's signature (manifest.sig), for the modules that read a bundle."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  allowed_signers:
    description:
      - Path on the managed host of an OpenSSH C(allowed_signers) file (see C(ssh-keygen(1)), section ALLOWED SIGNERS) -
        principals and their public keys, with the options C(namespaces="fleetimage-bundle"), C(valid-after) and
        C(valid-before) as C(ssh-keygen) reads them. Several keys may be listed, for key rotation.
      - When set, the signature C(manifest.sig) of the bundle in O(dir) (what C(ssh-keygen -Y sign -n fleetimage-bundle)
        writes for C(manifest)) is checked over the exact bytes of the index, for a key this file allows for the
        namespace C(fleetimage-bundle) at the time of the check. The index is read once; the signature is verified
        over those bytes and the index used afterwards is parsed from them. The outcome is in RV(signature).
      - M(fleetimage.separated.separated_image_load) fails on a signature that does not verify, before any tarball
        is read; M(fleetimage.separated.separated_image_info) reports it in RV(signature), with the reason, and does
        not fail.
      - Needs O(dir), and C(ssh-keygen) from OpenSSH 8.2 or later on the managed host.
      - With O(fleetimage.separated.separated_image_load#module:src) or O(fleetimage.separated.separated_image_load#module:url),
        a path on the B(controller) - the signature is verified there before anything is sent, the file goes with the
        load run into the cache folder (as C(allowed_signers)), and the host verifies the index again before it loads.
      - When not set, the signature is not checked (nor required).
    type: path
  revoked_keys:
    description:
      - Path on the managed host (on the controller with O(fleetimage.separated.separated_image_load#module:src) or
        O(fleetimage.separated.separated_image_load#module:url)) of revoked keys, as C(ssh-keygen -Y verify -r) reads them, an OpenSSH KRL
        (C(ssh-keygen -k)) or a file of public keys, one a line. A signature by a key it lists does not verify.
      - Needs O(allowed_signers).
    type: path
"""
