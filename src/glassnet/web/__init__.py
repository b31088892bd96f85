"""``glassnet serve``: a local page to draw a digit and watch the network read it.

    pip install "glassnet[web]"
    glassnet serve                      # the shipped models: hidden (MLP), cnn, notes
    glassnet serve my_model.gnet        # your model first, then the shipped ones

Files: ``inference.py`` (NumPy only: request bodies -> digits -> predictions and activations),
``app.py`` (the Starlette routes), ``static/`` (the page: plain HTML, CSS and JS, nothing fetched
from elsewhere), ``models/`` (trained by ``tools/train_web_models.py`` on the embedded digits).

Importing this package imports no web framework: that happens when the server starts, so
``import glassnet`` and ``glassnet --help`` stay fast.
"""
import ipaddress
import socket
import sys

WEB_HINT = 'pip install "glassnet[web]"'


def add_commands(subparsers):
    p = subparsers.add_parser(
        "serve", help="a local web page: draw a digit, see the prediction and the activations",
        description="Serve a page where you draw a digit (or upload a picture of one) and watch the model "
                    "read it: the 28 x 28 input it receives, each layer's activations, the probabilities. "
                    f"Needs the web extra: {WEB_HINT}.")
    p.add_argument("model", metavar="MODEL", nargs="?",
                   help="a saved model (.gnet) taking 784 values and giving 10 scores; shown first, beside "
                        "the shipped models (default: the shipped models only)")
    p.add_argument("--port", type=_port, default=8000, help="the TCP port (default 8000)")
    p.add_argument("--host", default="127.0.0.1",
                   help="the address to listen on (default 127.0.0.1: this computer only)")
    p.set_defaults(run=serve)


def _port(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, received {text!r}")
    return value


def serve(args):
    from ..cli import CommandError
    try:
        import uvicorn
        from .app import create_app
    except ImportError as exc:
        raise CommandError(f"glassnet serve needs the web extra ({exc.name} is missing); install it with: "
                           f"{WEB_HINT}") from None
    from .inference import load_models
    try:
        served = load_models([args.model] if args.model else [])
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    sock = _bind(args.host, args.port, CommandError)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if not _is_loopback(args.host):
        print(f"glassnet: warning: listening on {args.host}: anyone who can reach this machine on port "
              f"{port} can use the page; use --host 127.0.0.1 to keep it to this computer", file=sys.stderr)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else shown
    print(f"glassnet serve: models {', '.join(served)}; open http://{shown}:{port}/ (Ctrl+C to stop)",
          flush=True)
    config = uvicorn.Config(create_app(served), log_level="warning", limit_concurrency=256,
                            timeout_keep_alive=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host, port, error):
    """A listening socket on (host, port), or ``error`` with a hint (port in use, unknown address)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise error(f"cannot listen on {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        hint = f"; try --port {port + 1}" if exc.errno == 98 else ""
        raise error(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
    sock.set_inheritable(True)
    return sock
