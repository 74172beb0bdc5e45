# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sphinx extension for `make docs` offline: links to Ansible's own docs without intersphinx.

The pages antsibull-docs writes refer to labels of Ansible's docs site
(``ansible_collections.ansible.builtin.copy_module``, ``common_return_values``,
...). Intersphinx resolves them from docs.ansible.com's inventory, which a build
without network cannot fetch, and the build treats the failure as an error.
scripts/docs.sh turns intersphinx off and loads this extension instead: it turns
those labels, and only those, into links to the pages intersphinx would have
given. Any other unresolved reference (a label of this collection's own pages
or guides) stays a warning, and the build fails on it.
"""

from __future__ import annotations

from docutils import nodes

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"
# Labels of Ansible's docs site that antsibull-docs' templates use, and their pages.
SITE_LABELS = {
    "common_return_values": "reference_appendices/common_return_values.html",
    "ansible_configuration_settings": "reference_appendices/config.html",
    "action_plugins": "plugins/action.html",
}
OWN_PREFIX = "ansible_collections.fleetimage.separated."


def _ansible_docs_url(label: str) -> str | None:
    if label in SITE_LABELS:
        return ANSIBLE_DOCS + SITE_LABELS[label]
    if not label.startswith("ansible_collections.") or label.startswith(OWN_PREFIX):
        return None
    # ansible_collections.NS.NAME.PLUGIN_TYPE[__ANCHOR]: the page of another collection's plugin
    name = label[len("ansible_collections."):]
    page, anchor = name.split("__", 1) if "__" in name else (name, "")
    parts = page.split(".")
    if len(parts) != 3:
        return None
    url = f"{ANSIBLE_DOCS}collections/{'/'.join(parts)}.html"
    return f"{url}#{anchor}" if anchor else url


def _resolve(app, env, node, contnode):  # pylint: disable=unused-argument
    if node.get("refdomain") != "std" or node.get("reftype") != "ref":
        return None
    url = _ansible_docs_url(node.get("reftarget", ""))
    if url is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=url)
    reference += contnode
    return reference


def setup(app):
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
