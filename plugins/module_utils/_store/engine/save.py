# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Export images from podman or docker through their save stream, for a bundle save.

    podman save --format docker-archive -m NAME...     (stdout)
    docker save NAME...                                (stdout)

The stream is read as it comes, never through an `-o` file of the engine's.
A bundle's tarballs need their layers in an order the stream does not have
(base, then lib, then each app; inside a tarball, sorted by legacy layer id),
and manifest.json and the configs come at the stream's end, after every layer.
So the stream goes, as it arrives, into one temporary file of the caller's
(the engine writes into it through its stdout: no copy in Python), which is
then read as a docker-archive file exactly as the `archive` source reads one;
the same images thus give the same bundle whichever source they come from.

In check mode nothing is written: the stream is read for its metadata only
(manifest.json, configs, layer sizes) and its layer bytes are read past.
"""

from __future__ import annotations

import os
import subprocess

from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli as _engine_cli
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.stream_metadata import read_archive_metadata
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason

CHUNK = 1024 * 1024


def save_to_file(argv, path):
    """Run ARGV with its stdout going into the new file PATH; raise the engine's error on failure."""
    try:
        with open(path, "xb") as out:
            proc = _engine_cli.start(argv, subprocess.DEVNULL, stdout=out)
            stderr = proc.communicate()[1]
    except OSError as exc:
        raise BundleError("writing the save stream of `%s` to %s failed: %s"
                          % (_engine_cli.command_line(argv), path, os_reason(exc)))
    if proc.returncode != 0:
        raise _engine_cli.failed(argv, proc.returncode, stderr)
    if os.path.getsize(path) == 0:
        raise BundleError("`%s` exited 0 but wrote nothing" % _engine_cli.command_line(argv))


def read_metadata(argv):
    """Run ARGV and read the metadata of the archive on its stdout; return the Candidates."""
    where = "the save stream of `%s`" % _engine_cli.command_line(argv)
    proc = _engine_cli.start(argv, subprocess.DEVNULL)
    stderr = _engine_cli.Drain(proc.stderr)
    try:
        candidates = read_archive_metadata(proc.stdout, where)
        while proc.stdout.read(CHUNK):
            pass  # the archive's record padding: read it, or the engine may wait on a full pipe
    except BundleError:
        proc.stdout.close()  # an engine still writing stops on a broken pipe
        returncode = proc.wait()
        stderr.join()
        if returncode != 0 and b"broken pipe" not in stderr.data.lower():
            raise _engine_cli.failed(argv, returncode, stderr.data)  # the engine failed first: its reason
        raise
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.stdout.close()
    returncode = proc.wait()
    stderr.join()
    if returncode != 0:
        raise _engine_cli.failed(argv, returncode, stderr.data)
    return candidates
