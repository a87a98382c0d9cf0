"""HTTP endpoints: /healthz and /readyz on the health address, /metrics on the metrics address."""

from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Handler = Callable[[web.Request], Awaitable[web.Response]]


def parse_address(address: str) -> tuple[str, int]:
    """ ":8081" -> ("0.0.0.0", 8081); "127.0.0.1:0" -> ("127.0.0.1", 0)."""
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"{address!r} is not HOST:PORT or :PORT")
    return host or "0.0.0.0", int(port)


async def serve_health(address: str, ready: Callable[[], bool]) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="indexes are not populated yet\n")

    return await _serve(address, {"/healthz": healthz, "/readyz": readyz})


async def serve_metrics(address: str) -> web.AppRunner:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return await _serve(address, {"/metrics": metrics})


async def _serve(address: str, handlers: Mapping[str, Handler]) -> web.AppRunner:
    """Serve GET `handlers` (by path) on `address`."""
    app = web.Application()
    for path, handler in handlers.items():
        app.router.add_get(path, handler)
    host, port = parse_address(address)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
