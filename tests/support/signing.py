"""Real OpenSSH keys and signatures for the signed-bundle tests, made with ssh-keygen.

Keys (session-wide, made once by the `signing_keys` fixture of tests/conftest.py):
    release        the trusted key, principal release@example.com
    rogue          a key no allowed_signers file lists
    retired        a key listed with a valid-before date in the past (rotated out)
    future         a key listed with a valid-after date in the future
Trust files:
    allowed_signers        release (namespaces="fleetimage-bundle"), retired (expired), future (not yet valid)
    git_only_signers       release, allowed only for the namespace "git"
    revoked_keys           release's public key (ssh-keygen -Y verify -r)
    krl                    the same as an OpenSSH KRL (ssh-keygen -k)
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

NAMESPACE = "fleetimage-bundle"
PRINCIPAL = "release@example.com"


@dataclasses.dataclass
class SigningKeys:
    folder: Path

    def key(self, name: str) -> Path:
        return self.folder / name

    def pub(self, name: str) -> Path:
        return self.folder / (name + ".pub")

    def fingerprint(self, name: str) -> str:
        out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.pub(name))],
                             check=True, capture_output=True, text=True).stdout
        return out.split()[1]

    @property
    def allowed_signers(self) -> Path:
        return self.folder / "allowed_signers"

    @property
    def git_only_signers(self) -> Path:
        return self.folder / "git_only_signers"

    @property
    def revoked_keys(self) -> Path:
        return self.folder / "revoked_keys"

    @property
    def krl(self) -> Path:
        return self.folder / "krl"


def make_keys(folder: Path) -> SigningKeys:
    if shutil.which("ssh-keygen") is None:
        raise RuntimeError("ssh-keygen is not installed (Debian package openssh-client)")
    folder.mkdir(parents=True, exist_ok=True)
    keys = SigningKeys(folder)
    for name in ("release", "rogue", "retired", "future"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys.key(name))],
                       check=True, capture_output=True)

    def line(name, options):
        return "%s %s %s\n" % (PRINCIPAL, options, " ".join(keys.pub(name).read_text().split()[:2]))

    keys.allowed_signers.write_text(
        line("release", 'namespaces="%s"' % NAMESPACE)
        + line("retired", 'namespaces="%s",valid-before="20200101"' % NAMESPACE)
        + line("future", 'namespaces="%s",valid-after="29990101"' % NAMESPACE))
    keys.git_only_signers.write_text(line("release", 'namespaces="git"'))
    shutil.copyfile(keys.pub("release"), keys.revoked_keys)
    subprocess.run(["ssh-keygen", "-q", "-k", "-f", str(keys.krl), str(keys.pub("release"))],
                   check=True, capture_output=True)
    return keys


def sign(bundle, key: Path, namespace: str = NAMESPACE, data: bytes | None = None) -> Path:
    """Sign BUNDLE/manifest (or DATA) with plain ssh-keygen, into BUNDLE/manifest.sig."""
    sig = Path(bundle) / "manifest.sig"
    payload = (Path(bundle) / "manifest").read_bytes() if data is None else data
    out = subprocess.run(["ssh-keygen", "-Y", "sign", "-f", str(key), "-n", namespace], input=payload,
                         check=True, capture_output=True).stdout
    sig.write_bytes(out)
    return sig


def ssh_keygen_verify(bundle, allowed_signers: Path, principal: str = PRINCIPAL) -> subprocess.CompletedProcess:
    """Plain `ssh-keygen -Y verify` of BUNDLE/manifest.sig over BUNDLE/manifest."""
    with open(Path(bundle) / "manifest", "rb") as data:
        return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed_signers), "-I", principal,
                               "-n", NAMESPACE, "-s", str(Path(bundle) / "manifest.sig")],
                              stdin=data, capture_output=True, text=True, check=False)
