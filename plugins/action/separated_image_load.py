# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""separated_image_load from a bundle on the controller (src) or on mirrors (url).

Without src and url the module runs as it is. With them:

  controller  read and check the index (plugin_utils/bundle_source.py); a bad
              bundle fails here, before the host is contacted
  src         run 1 (ask): which names the host's store holds, which needed
              tarballs its cache folder holds intact; send the others with
              the connection's put_file under temporary names; run 2 (load):
              the host hashes what it received, renames it, writes the index
              last and loads. A host that holds every name: run 1 only.
  url         one run: the host fetches what its cache lacks from the
              mirrors, in order, and loads.
"""

from __future__ import annotations

import os
import uuid

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.cache_folder import DEFAULT_CACHE_DIR, part_name
from ansible_collections.fleetimage.separated.plugins.plugin_utils import bundle_source

MODULE = "fleetimage.separated.separated_image_load"
# Options that only the controller reads; the host gets the index, signature and trust files instead.
_CONTROLLER_ONLY = ("src", "name", "names", "allowed_signers", "revoked_keys")
_URL_OPTIONS = ("url", "url_username", "url_password", "headers", "use_proxy", "client_cert", "client_key",
                "ca_path", "validate_certs", "timeout")


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        if not args.get("src") and not args.get("url"):
            result.update(self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars))
            return result
        try:
            bundle = bundle_source.read_bundle(args)
        except BundleError as exc:
            result.update(failed=True, msg=str(exc))
            return result
        host_args = dict((k, v) for k, v in args.items() if k not in _CONTROLLER_ONLY and k not in _URL_OPTIONS)
        host_args.update(names=bundle["names"], dir=args.get("dir") or DEFAULT_CACHE_DIR)
        self._internal = dict(bundle["trust"], index=bundle["index_text"])
        if bundle["signature_text"]:
            self._internal["signature"] = bundle["signature_text"]
        if args.get("url"):
            host_args.update((k, args[k]) for k in _URL_OPTIONS if k in args)
            done = self._execute_module(module_name=MODULE, module_args=self._step(host_args, "load"),
                                        task_vars=task_vars)
            done.setdefault("reused", [f["file"] for f in done.get("files", []) if f.get("intact")])
            return self._finish(result, done, bundle, sent=None)
        return self._finish(result, *self._push(host_args, bundle, args["src"], task_vars))

    def _step(self, host_args, step, **more):
        """The module arguments of one step: the task's, and what only this plugin sends (_plugin)."""
        return dict(host_args, _plugin=dict(self._internal, step=step, **more))

    def _push(self, host_args, bundle, src, task_vars):
        """Ask, send what the host lacks, load: (module result, bundle, {files, bytes})."""
        asked = self._execute_module(module_name=MODULE, module_args=self._step(host_args, "ask"), task_vars=task_vars)
        if asked.get("failed") or asked.get("unreachable"):
            return asked, bundle, None
        lacking = [f["file"] for f in asked["files"] if not f["intact"]]
        sent = {"files": lacking, "bytes": sum(_size(os.path.join(src, f)) for f in lacking)}
        reused = [f["file"] for f in asked["files"] if f["intact"]]
        if not asked["needing"]:
            asked.update(reused=[], loaded=[], apps=dict((n, {"action": "present", "image_id": asked["images"].get(n)})
                                                         for n in asked["present"]))
            return asked, bundle, {"files": [], "bytes": 0}
        if self._task.check_mode:
            asked.update(changed=True, reused=reused, loaded=[],
                         would_load=[] if self._task.args.get("stage_only") else asked["needing"],
                         apps=dict([(n, {"action": "present", "image_id": asked["images"].get(n)}) for n in asked["present"]]
                                   + [(n, {"action": "would_load", "image_id": None}) for n in asked["needing"]]))
            return asked, bundle, sent

        cache_dir = host_args["dir"]
        if cache_dir.startswith("~"):
            cache_dir = self._remote_expand_user(cache_dir)
        # With become, the connection's user may not write the cache folder: the files go to the connection's
        # temporary folder, and the load run (as the become user) copies them in.
        staging_dir = self._make_tmp_path() if self._play_context.become else cache_dir
        shell = self._connection._shell
        token = uuid.uuid4().hex
        staged = {}
        try:
            try:
                for file_name in lacking:
                    local = os.path.join(src, file_name)
                    if not os.path.isfile(local):
                        raise BundleError("the bundle %s lacks the tarball %s its index names" % (src, file_name))
                    remote = shell.join_path(staging_dir, part_name(file_name, token))
                    staged[file_name] = remote if staging_dir != cache_dir else part_name(file_name, token)
                    self._connection.put_file(local, remote)
                if staging_dir != cache_dir:
                    self._fixup_perms2([staging_dir] + list(staged.values()))
            except (AnsibleError, BundleError, OSError) as exc:
                if staging_dir == cache_dir:
                    self._discard(cache_dir, staged.values())
                return {"failed": True, "msg": "sending %s to the cache folder %s failed: %s"
                        % (file_name, cache_dir, to_text(exc))}, bundle, sent
            loaded = self._execute_module(module_name=MODULE, module_args=self._step(host_args, "load", staged=staged),
                                          task_vars=task_vars)
        finally:
            if staging_dir != cache_dir:
                self._remove_tmp_path(staging_dir)
        loaded["reused"] = reused
        return loaded, bundle, sent

    def _discard(self, cache_dir, names):
        """Remove what a failed transfer left (best effort: a later run trusts none of it, and the ask removes old ones)."""
        if not names:
            return
        shell = self._connection._shell
        paths = " ".join(shell.quote(shell.join_path(cache_dir, n)) for n in names)
        try:
            self._low_level_execute_command("rm -f %s" % paths)
        except AnsibleError:
            pass

    def _finish(self, result, done, bundle, sent):
        result.update(done)
        for internal in ("files", "images", "invocation", "needing"):
            result.pop(internal, None)
        if sent is not None:
            result["sent"] = sent
        result["signature"] = bundle["signature"]
        result.setdefault("changed", False)
        apps = result.get("apps") or {}
        if len(bundle["names"]) == 1 and not self._task.args.get("names") and bundle["names"][0] in apps:
            # One name: the result of the plain module as well (action, image, previous_id...).
            only = apps[bundle["names"][0]]
            result.setdefault("action", only.get("action"))
            for key in ("image", "previous_id", "layers_written", "layers_reused", "bytes_written", "tarballs"):
                if key in only:
                    result.setdefault(key, only[key])
            if "image" not in result:
                result["image"] = {"name": bundle["names"][0], "id": only.get("image_id")}
        if isinstance(result.get("diff"), list):
            diffs = [d for d in result["diff"] if d]
            result["diff"] = diffs[0] if len(diffs) == 1 else diffs
        return result


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
