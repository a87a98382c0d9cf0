"""The `wrapped-gateway` command line."""

import argparse
import os
import sys
from collections.abc import Sequence
from contextlib import closing
from typing import NoReturn

from wrapped_gateway import __version__
from wrapped_gateway.render.manifests import ManifestError, iter_documents
from wrapped_gateway.render.render import render, to_json, to_yaml
from wrapped_gateway.run_options import add_run_arguments, settings_from


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.command(args))


def console() -> NoReturn:
    """The `wrapped-gateway` command: `main` with the process's arguments, then exit."""
    args = _parser().parse_args()
    code = int(args.command(args))
    if args.command is _render:
        # The objects a large render built would take a tenth of its time to tear down
        # (Python's last collection scans them all) for a process about to end anyway.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wrapped-gateway",
        description="Generates Gateway listeners from the routes that attach to them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    render_parser = commands.add_parser(
        "render",
        help="print the Gateways the controller would apply for the given manifests",
        description=(
            "Reads WrappedGateways, routes (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, "
            "UDPRoute) and Namespaces, and prints the generated Gateways. Refused routes and "
            "hostnames are listed on stderr, one per line."
        ),
    )
    render_parser.add_argument(
        "-f",
        "--filename",
        dest="paths",
        action="append",
        required=True,
        metavar="PATH",
        help="a YAML file, a directory (searched recursively for *.yaml, *.yml) or - for stdin",
    )
    render_parser.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    render_parser.set_defaults(command=_render)

    run_parser = commands.add_parser(
        "run",
        help="run the controller: keep every generated Gateway in step with its routes",
        description="Watches routes and WrappedGateways and server-side-applies the generated "
        "Gateways. Every flag can also be set by the environment variable named in its help.",
    )
    add_run_arguments(run_parser)
    run_parser.set_defaults(command=_run)
    return parser


def _render(args: argparse.Namespace) -> int:
    try:
        # closed, so that a process still parsing when an error stops the reading ends now
        with closing(iter_documents(args.paths)) as documents:
            rendered = render(documents)
    except ManifestError as error:
        print(f"wrapped-gateway render: error: {_one_line(str(error))}", file=sys.stderr)
        return 1
    # One write: stderr is line-buffered, and a large input can refuse thousands of routes.
    sys.stderr.write("".join(f"{_one_line(line)}\n" for line in rendered.diagnostics))
    manifests = rendered.manifests
    sys.stdout.write(to_json(manifests) if args.output == "json" else to_yaml(manifests))
    return 0


def _one_line(text: str) -> str:
    """Names read from the input may hold line breaks; each message stays on one line."""
    return "\\n".join(text.splitlines())


def _run(args: argparse.Namespace) -> int:
    # Imported here so that `render` starts without loading kopf and the API client.
    from wrapped_gateway.controller.operator import run  # noqa: PLC0415

    return run(settings_from(args))
