# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A static file server for the fleet tests: ``python -m http.server`` plus, when asked,
HTTP basic authentication and a required header.

    python http_file_server.py PORT --bind ADDRESS --directory FOLDER
        [--basic-auth USER:PASSWORD] [--require-header NAME:VALUE]
        [--tls-cert PEM --tls-key PEM [--client-ca PEM]]

A request without the right credentials gets 401 (with a ``WWW-Authenticate``
challenge), one without the header 403; both are logged like any request, in
http.server's format, so the tests can count what was served and refused.
With --tls-cert it serves HTTPS; with --client-ca it also wants a client
certificate signed by that CA (a connection without one fails the handshake).
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import ssl


class Handler(http.server.SimpleHTTPRequestHandler):
    credentials: str | None = None
    header: tuple[str, str] | None = None

    def _allowed(self) -> bool:
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(self.credentials.encode("utf-8")).decode("ascii")
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="bundles"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False
        if self.header is not None and self.headers.get(self.header[0]) != self.header[1]:
            self.send_error(403, f"missing or wrong header {self.header[0]}")
            return False
        return True

    def do_GET(self):  # noqa: N802  (http.server's naming)
        if self._allowed():
            super().do_GET()

    def do_HEAD(self):  # noqa: N802
        if self._allowed():
            super().do_HEAD()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--directory", required=True)
    parser.add_argument("--basic-auth", help="USER:PASSWORD")
    parser.add_argument("--require-header", help="NAME:VALUE")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--client-ca")
    args = parser.parse_args()
    Handler.credentials = args.basic_auth
    if args.require_header:
        name, value = args.require_header.split(":", 1)
        Handler.header = (name, value)
    handler = functools.partial(Handler, directory=args.directory)
    with http.server.ThreadingHTTPServer((args.bind, args.port), handler) as server:
        if args.tls_cert:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(args.tls_cert, args.tls_key)
            if args.client_ca:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(args.client_ca)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
