"""An HTTP forward proxy that takes requests for cluster addresses to the local processes standing in for them.

A client configured with a proxy (Prometheus's `proxy_url`, Chromium's --proxy-server) sends the request for
`http://10.244.0.17:9090/metrics` or `http://mlflow.localtest.me/` to the proxy as it would send it to that
address: same path, same headers, `Host` among them. The proxy forwards it unchanged to the local address the route
names, so the server sees exactly the Host header the real client sends in a cluster, without this machine owning
the pod's IP or the front door's name.
"""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Hop-by-hop headers (RFC 9110, section 7.6.1): the proxy's, not the request's.
HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "te", "trailer", "upgrade",
              "transfer-encoding"}


class ForwardProxy:
    """Routes `host:port` (the port as the client dials it; 80 when the URL has none) to a local `host:port`."""

    def __init__(self, routes: dict[str, str]) -> None:
        self.routes = dict(routes)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                target = urlsplit(self.path)
                local = proxy.routes.get(f"{target.hostname}:{target.port or 80}")
                if target.scheme != "http" or local is None:
                    self.send_error(502, f"no route to {target.netloc}")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                connection = http.client.HTTPConnection(local, timeout=60)
                try:
                    connection.putrequest(self.command, target.path + (f"?{target.query}" if target.query else "")
                                          or "/", skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in HOP_BY_HOP:
                            connection.putheader(name, value)
                    connection.endheaders(body or None)
                    response = connection.getresponse()
                    payload = response.read()
                except OSError as error:
                    self.send_error(502, f"{local}: {error}")
                    return
                finally:
                    connection.close()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP | {"content-length"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            # http.server dispatches to do_<METHOD>.
            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the servers log what they answered."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
