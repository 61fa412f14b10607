"""``hub serve``: run the HTTP API with uvicorn on loopback (host and port from settings)."""

from __future__ import annotations

import click


def settle_heap() -> None:
    """Move everything start-up made (modules, the app, its routes and models) out of the
    cyclic garbage collector's sight (``gc.freeze``), just before serving: it would otherwise
    scan those long-lived objects again in every full collection, which the many short-lived
    objects of each request keep triggering (a tenth of the server's time under load).
    Garbage made afterwards is collected as before."""
    import gc

    gc.collect()
    gc.freeze()


@click.command()
@click.option("--host", default=None, help="bind address (default: HUB_API_HOST, 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port (default: HUB_API_PORT, 8000)")
@click.option(
    "--background/--no-background",
    default=True,
    show_default=True,
    help="run the periodic audit digest and ledger sequencer in this process",
)
@click.option("--access-log/--no-access-log", default=False, show_default=True)
def serve(host: str | None, port: int | None, background: bool, access_log: bool) -> None:
    """Serve the sharing API (OpenAPI at /docs and /openapi.json) in one process."""
    import uvicorn

    from hub.settings import get_settings
    from hub.wiring import api_app

    settings = get_settings()
    settings.ensure_dirs()
    app = api_app(settings, background=background)  # the API handed its services
    # access logs carry request paths, and paths carry ID numbers: off unless asked for.
    # One worker process per `hub serve`; several run behind a load balancer (services/api.sh)
    # on PostgreSQL they share each client's rate limit (api.ratelimit).
    settle_heap()
    uvicorn.run(
        app,
        workers=1,
        host=host or settings.api_host,
        port=port or settings.api_port,
        access_log=access_log,
        log_level="info",
    )
