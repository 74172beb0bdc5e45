# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host fetches one tarball of the index into its cache folder from mirrors, in order.

Each mirror is a base URL; the file is BASE/FILE. Bytes stream into a
temporary name in the cache folder while their sha256 is computed, and the
file gets its name only when the sha256 is the index's. A mirror that
refuses, times out, answers an HTTP error or serves other bytes is skipped
for this file and named in the result; the next one is asked. When the
cache folder cannot be written (no space, no permission), the host fails
at once: another mirror would not help.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile

from urllib.parse import quote

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.cache_folder import mirror_list
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder

CHUNK = 1024 * 1024


class _MirrorFailed(Exception):
    """This mirror has no good copy; ask the next one."""


def fetch_into(params, wanted, bundle_dir, open_url):
    """Fetch WANTED ({file, path, sha256}) with OPEN_URL (Ansible's ansible.module_utils.urls.open_url, which the
    module hands in); return ({file, url, bytes}, [{file, url, error} skipped])."""
    mirrors = mirror_list(params.get("url"))
    skipped = []
    for base in mirrors:
        url = "%s/%s" % (base, quote(wanted["file"]))
        try:
            size = _fetch_one(params, url, wanted, bundle_dir, open_url)
        except _MirrorFailed as exc:
            skipped.append({"file": wanted["file"], "url": url, "error": str(exc)})
            continue
        return {"file": wanted["file"], "url": url, "bytes": size}, skipped
    raise BundleError("no mirror has a good copy of %s; tried: %s"
                      % (wanted["file"], "; ".join("%s (%s)" % (s["url"], s["error"]) for s in skipped) or "no url given"))


def _fetch_one(params, url, wanted, bundle_dir, open_url):
    try:
        fd, temp = tempfile.mkstemp(prefix=".%s.part-" % wanted["file"], dir=bundle_dir)
    except OSError as exc:
        raise BundleError("cannot write into the cache folder %s: %s" % (bundle_dir, exc.strerror or exc))
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            response = _open(params, url, open_url)
            try:
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except Exception as exc:  # a mirror's socket error, timeout or broken stream
                        raise _MirrorFailed("read failed after %d bytes: %s" % (size, exc))
                    if not chunk:
                        break
                    digest.update(chunk)
                    size += len(chunk)
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise BundleError("cannot write %s into the cache folder %s: %s"
                                          % (wanted["file"], bundle_dir, exc.strerror or exc))
            finally:
                response.close()
            if digest.hexdigest() != wanted["sha256"]:
                raise _MirrorFailed("served %d bytes whose sha256 %s is not the index's %s"
                                    % (size, digest.hexdigest(), wanted["sha256"]))
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise BundleError("cannot write %s into the cache folder %s: %s"
                                  % (wanted["file"], bundle_dir, exc.strerror or exc))
        os.chmod(temp, 0o644)
        os.replace(temp, wanted["path"])
        fsync_folder(bundle_dir)
        return size
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _open(params, url, open_url):
    """The response to GET URL with the module's authentication and transport options."""
    username = params.get("url_username") or None
    try:
        return open_url(
            url,
            method="GET",
            headers=params.get("headers") or {},
            url_username=username,
            url_password=params.get("url_password") or None,
            force_basic_auth=bool(username),
            use_proxy=params.get("use_proxy", True),
            client_cert=params.get("client_cert") or None,
            client_key=params.get("client_key") or None,
            ca_path=params.get("ca_path") or None,
            validate_certs=params.get("validate_certs", True),
            timeout=params.get("timeout") or 60,
            follow_redirects="safe",
        )
    except Exception as exc:  # HTTPError, URLError, timeouts, TLS errors: this mirror is skipped
        code = getattr(exc, "code", None)
        raise _MirrorFailed("HTTP %s" % code if code else "no answer: %s" % (getattr(exc, "reason", None) or exc))
