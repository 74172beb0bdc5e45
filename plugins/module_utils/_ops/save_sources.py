# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the images of a save come from: the one place that knows the sources.

    archive   docker-archive files, as `docker save` and `podman save` write them
    oci       this collection's OCI layout store
    podman    podman's own storage, through `podman save` (see _engine_save)
    docker    the docker daemon, through `docker save`

Each gives a list of Candidate (see _image_catalog) and a phrase naming it
for errors. Layers are never read here: they stream into the bundle later.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import save as _engine_save
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.file_source import read_tagged_images
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._store import registry
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.image_source import candidate, merge_duplicates
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.source import read_oci_store

SOURCES = ("archive", "oci", "podman", "docker")  # the engines whose class has save_command()
ENGINE_SAVE_FILE_NAME = "engine-save.tar"


def read_images(params, names, spool_dir):
    """Return (candidates, where) of params['source'].

    NAMES are the images a save asks for, as typed (an engine exports just
    those). SPOOL_DIR is a private folder for the engine's save stream; None
    in check mode, where nothing may be written.
    """
    source = params["source"]
    if source == "archive":
        paths = params.get("archives") or []
        if not paths:
            raise BundleError("source archive needs at least one docker-archive file in archives")
        return read_archives(paths), "the docker-archive%s %s" % ("s" if len(paths) > 1 else "", ", ".join(paths))
    if source == "oci":
        store = params["store"]
        return merge_duplicates(read_oci_store(store)), "the OCI store %s" % store
    argv = registry.ENGINE_CLASSES[source](params.get("executable")).save_command(names)
    where = "the images exported by `%s`" % " ".join(argv)
    if spool_dir is None:
        return merge_duplicates(_engine_save.read_metadata(argv)), where
    path = os.path.join(spool_dir, ENGINE_SAVE_FILE_NAME)
    _engine_save.save_to_file(argv, path)
    return read_archives([path]), where


def read_archives(paths):
    """The Candidate images of the docker-archive files PATHS, one per image id."""
    found = []
    for path in paths:
        for image, tags in read_tagged_images(path):
            found.append(candidate([tag for tag in tags if isinstance(tag, str)], image))
    return merge_duplicates(found)
