#!/usr/bin/env python3
"""dockhand's local AWS emulator: moto's server with rollouts, faults and a control API.

    python emulator/dockhand_emulator.py [--port N] [--host H] [--verbose]

Prints `DOCKHAND_EMULATOR_READY http://HOST:PORT` on stdout once it accepts
requests (port 0, the default, picks a free one). SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import warnings

sys.dont_write_bytecode = True  # no __pycache__ beside the sources in the work tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = parser.parse_args()
    server = None

    def stop(signum: int, frame: object) -> None:
        if server is None:  # still starting up
            sys.exit(0)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        logging.getLogger("moto").setLevel(logging.ERROR)  # e.g. each resource type it skips
        warnings.filterwarnings("ignore")  # moto warns about each resource type it skips

    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

    import dockhand_emu
    from dockhand_emu.wsgi import Emulator

    dockhand_emu.install()
    moto = DomainDispatcherApplication(create_backend_app)
    for service in ("ecs", "cloudformation"):  # so the first calls do not pay for it
        moto.app_instances[service] = create_backend_app(service)

    class Handler(MotoRequestHandler):
        def log_request(self, *a: object, **kw: object) -> None:
            if args.verbose:
                super().log_request(*a, **kw)

    server = make_server(args.host, args.port, Emulator(moto), threaded=True, request_handler=Handler)
    host = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    print(f"DOCKHAND_EMULATOR_READY http://{host}:{server.server_port}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # nothing to clean up; tearing down moto's modules takes seconds


if __name__ == "__main__":
    main()
