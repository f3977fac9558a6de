"""`supportlog serve`: the HTTP API, and behind it the same pipeline as `run`.

One process serves the API on uvicorn and runs `System.workers()` (relay, projector
group, scheduler), so `./sl serve` alone is a working desk on the embedded servers:
what a client writes is published, projected and readable with `?after=`. uvicorn runs
on a thread of its own and this thread owns the signals: SIGTERM (or SIGINT) stops the
server (open requests get a few seconds) and every worker, which finish the batch in
hand; a part that fails stops the others and the process exits 1.
"""

from __future__ import annotations

import logging
import socket
import sys

import click

from supportlog.cli.shared import part_thread, stop_on_signals, system

log = logging.getLogger("supportlog.serve")

#: Seconds open requests get to finish after SIGTERM before their connections close.
GRACEFUL_S = 3
#: Seconds the parts get to stop after the server did, before the process gives up.
JOIN_S = 10


def register(main: click.Group) -> None:
    """Adds this module's commands to the `main` group."""
    main.add_command(serve)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port, logged at start).")
@click.option("--pipeline/--no-pipeline", default=True, show_default=True,
              help="Also run the relay, projector and scheduler (as `run` does); without, "
                   "another process must (several API processes share one pipeline).")
@click.option("--interval", default=1.0, show_default=True,
              help="Seconds between the scheduler's looks at the timers.")
def serve(host: str, port: int, pipeline: bool, interval: float) -> None:
    """Serve the HTTP API (docs/api.md) and run the pipeline, until SIGTERM."""
    import uvicorn

    from supportlog.logs import use_json_logs
    from supportlog.runtime import settle_heap

    use_json_logs()
    stop = stop_on_signals()
    failures: list[str] = []
    listener = socket.create_server((host, port), reuse_port=False)
    address = listener.getsockname()
    with system() as built:
        app = built.api()
        # No proxy headers: nothing here reads the client's address, so a proxy in
        # front changes nothing the API decides.
        config = uvicorn.Config(app, log_config=None, access_log=False,
                                timeout_graceful_shutdown=GRACEFUL_S, loop="uvloop",
                                http="httptools", timeout_keep_alive=30,
                                proxy_headers=False)
        server = uvicorn.Server(config)
        workers = built.workers(scheduler_interval_s=interval) if pipeline else []
        settle_heap()
        threads = [part_thread(w.name, lambda w=w: w.run(stop), stop, failures)
                   for w in workers]
        threads.append(part_thread("api", lambda: server.run(sockets=[listener]), stop,
                                   failures))
        for thread in threads:
            thread.start()
        log.info("serving", extra={"url": f"http://{address[0]}:{address[1]}",
                                   "pipeline": pipeline, "topic": built.settings.topic})
        while not stop.wait(0.2):
            if not threads[-1].is_alive():  # the server ended by itself: it failed
                failures.append("api: the server stopped")
                stop.set()
        server.should_exit = True
        for thread in threads:
            thread.join(timeout=JOIN_S)
        stuck = [t.name for t in threads if t.is_alive()]
    listener.close()
    if stuck:
        log.error("parts did not stop in time", extra={"parts": stuck})
        sys.exit(1)
    if failures:
        log.error("stopped after a failure", extra={"failures": failures})
        sys.exit(1)
    log.info("stopped cleanly")
