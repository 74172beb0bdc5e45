# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a container engine's command line, and put its own words into errors.

Ways to run one: run() for a command that answers (inspect, list, tag),
load_through_stdin() for a load that reads an archive on its stdin, and
load_through_file() for an engine that can only load from a file. Every
failure -- the executable missing, the daemon unreachable, the load refused --
becomes one BundleError naming the command, its exit status and its stderr.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import subprocess
import threading

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import private_tmp

# An engine's stderr is quoted in errors up to this many characters (its end,
# where the reason is).
STDERR_QUOTED_CHARS = 4000
# Output kept from a command, so a chatty load cannot fill memory.
OUTPUT_KEPT_BYTES = 1024 * 1024
# The most an answer (an inspect, a listing) may be: a listing of 100,000 images is
# about 10 MiB. An engine that says more is stopped, not read into memory.
ANSWER_MAX_BYTES = 16 * 1024 * 1024
# The size asked for the pipe to an engine's load: one chunk of the archive writer.
PIPE_BYTES = 1024 * 1024


def run(argv, none_when_stderr_has=None, env=None):
    """Run ARGV (in the environment ENV, or this one) to completion; return its stdout as text, or raise BundleError.

    When ARGV fails with NONE_WHEN_STDERR_HAS in its stderr (the engine's
    words for "no such thing"), return None instead.
    """
    proc = start(argv, stdin=subprocess.DEVNULL, env=env)
    errors = Drain(proc.stderr)
    stdout = _read_at_most(proc.stdout, ANSWER_MAX_BYTES)
    if stdout is None:
        proc.kill()
        proc.wait()
        errors.join()
        raise BundleError("`%s` answered with more than %d bytes; it was stopped and its answer not used"
                          % (command_line(argv), ANSWER_MAX_BYTES))
    proc.wait()
    errors.join()
    stderr = errors.data
    if proc.returncode != 0:
        if none_when_stderr_has and none_when_stderr_has.encode("utf-8") in stderr:
            return None
        raise failed(argv, proc.returncode, stderr)
    return stdout.decode("utf-8", "replace")


def _read_at_most(pipe, max_bytes):
    """All of PIPE, or None when it has more than MAX_BYTES."""
    chunks, total = [], 0
    for chunk in iter(lambda: pipe.read1(65536), b""):
        total += len(chunk)
        if total > max_bytes:
            pipe.close()
            return None
        chunks.append(chunk)
    pipe.close()
    return b"".join(chunks)


def failed(argv, returncode, stderr):
    """The error for ARGV having exited with RETURNCODE, quoting its STDERR."""
    text = (stderr or b"").decode("utf-8", "replace").strip()
    if len(text) > STDERR_QUOTED_CHARS:
        text = "..." + text[-STDERR_QUOTED_CHARS:]
    return BundleError("`%s` failed (exit %s): %s" % (command_line(argv), returncode, text or "(no error output)"))


def command_line(argv):
    return " ".join(shlex.quote(a) for a in argv)


class InputClosed(Exception):
    """The engine stopped reading its input.

    Deliberately not an OSError: readers of bundle tarballs take OSError for
    a broken tarball, and this is the engine's failure, not the bundle's.
    """


@contextlib.contextmanager
def feeding(argv, env=None):
    """Start ARGV with a pipe on its stdin and yield a writable sink for it.

    When the body returns, stdin is closed and ARGV must exit 0; when the
    engine stops reading early, its own error is raised. When the body
    raises, the engine is made to fail (see _abandon) and the body's error
    is raised.
    """
    proc = start(argv, stdin=subprocess.PIPE, env=env)
    _widen_pipe(proc.stdin)
    drains = [Drain(proc.stdout), Drain(proc.stderr)]
    try:
        yield _CountingSink(proc.stdin, lambda exc: InputClosed(str(exc)))
        try:
            proc.stdin.close()
        except OSError:
            pass  # the engine exited first: its status and stderr tell why
    except InputClosed:
        returncode = proc.wait()
        stderr = _finish(drains)
        if returncode == 0:
            raise BundleError("`%s` stopped reading the image archive before its end" % command_line(argv))
        raise failed(argv, returncode, stderr)
    except Exception:
        _abandon(proc)
        _finish(drains)
        raise
    except BaseException:  # interrupted: no time to let the engine clean up
        proc.kill()
        proc.wait()
        raise
    returncode = proc.wait()
    stderr = _finish(drains)
    if returncode != 0:
        raise failed(argv, returncode, stderr)


def _widen_pipe(pipe):
    """Let the pipe to the engine hold a whole chunk: fewer switches between writer and engine. Linux only."""
    try:
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (OSError, ValueError):
        pass  # another system, or above /proc/sys/fs/pipe-max-size: the default size works too


# Bytes that end any tar stream in an error, wherever they land: every
# reader either takes the first block for a header (its checksum is wrong)
# or runs out of bytes inside a block (the length is not a multiple of 512).
# The archive writer hands on whole 512-byte blocks only, so these start at
# a block boundary.
_NOT_A_TAR_END = b"\xff" * (2 * 512 + 1)
ABANDON_WAIT_SECONDS = 120


def _abandon(proc):
    """Make a load that was fed part of an archive fail, and wait for it.

    Closing stdin at the point of the error could look like the end of a
    shorter, valid archive; bytes no tar reader accepts make the engine fail
    on its own error path, which removes what it staged (podman's copy of its
    input, containerd's lease). An engine that does not exit in time is
    killed.
    """
    try:
        proc.stdin.write(_NOT_A_TAR_END)
        proc.stdin.close()
    except OSError:
        pass  # it stopped reading already
    try:
        proc.wait(timeout=ABANDON_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load_through_stdin(argv, write, env=None):
    """Run the load ARGV (in the environment ENV, or this one) with WRITE(sink) writing the archive to its stdin.

    Returns the bytes sent.
    """
    with feeding(argv, env) as sink:
        write(sink)
    return sink.bytes_written


def load_through_file(label, argv, write, engine_tmpdir=False):
    """Write the archive with WRITE(sink) to a temporary file, then run ARGV + [path].

    For an engine that loads a file best, or only files. The file lies in a
    private folder under $TMPDIR, or /var/tmp (where engines put large
    temporary files: a disk more often than memory), and is removed whatever
    happens; with ENGINE_TMPDIR, the folder is the engine's TMPDIR too. The
    engine runs only when WRITE has returned: an archive refused half-way is
    never shown to it. Returns the bytes of the file.
    """
    with private_tmp.private_tmp(label) as folder:
        path = os.path.join(folder, "image.tar")
        try:
            with open(path, "wb") as f:
                sink = _CountingSink(f, lambda exc: BundleError(
                    "writing the image archive to %s failed: %s" % (path, os_reason(exc))))
                write(sink)
        except OSError as exc:  # opening, or flushing the last bytes at close
            raise BundleError("writing the image archive to %s failed: %s" % (path, os_reason(exc)))
        run(argv + [path], env=private_tmp.engine_environment(folder) if engine_tmpdir else None)
        return sink.bytes_written


def start(argv, stdin, stdout=subprocess.PIPE, env=None):
    """Start ARGV; ENV, when given, is its whole environment."""
    try:
        return subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, env=env)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and os.sep not in argv[0]:
            raise BundleError(
                "cannot run %s: no such executable on PATH (%s); install the engine, or set 'executable' to its path"
                % (argv[0], os.environ.get("PATH", ""))
            )
        raise BundleError("cannot run %s: %s" % (argv[0], os_reason(exc)))


class _CountingSink(object):
    """A file to write to that counts what it took; FAILED(OSError) is the error a failed write raises."""

    def __init__(self, f, failed):
        self._f = f
        self._failed = failed
        self.bytes_written = 0

    def write(self, data):
        try:
            self._f.write(data)
        except OSError as exc:
            raise self._failed(exc)
        self.bytes_written += len(data)
        return len(data)

    def tell(self):
        return self.bytes_written


class Drain(threading.Thread):
    """Reads a pipe of the engine to its end, keeping the last bytes.

    The engine's output is read while it reads its input; without this, an
    engine writing much to a full pipe would stop reading, and both would
    wait for ever.
    """

    def __init__(self, pipe):
        super(Drain, self).__init__()
        self.daemon = True
        self._pipe = pipe
        self.data = b""
        self.start()

    def run(self):
        for chunk in iter(lambda: self._pipe.read1(65536), b""):
            self.data = (self.data + chunk)[-OUTPUT_KEPT_BYTES:]
        self._pipe.close()


def _finish(drains):
    """Wait for the drains; return what the engine wrote to stderr."""
    for drain in drains:
        drain.join()
    return drains[1].data
