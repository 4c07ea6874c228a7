"""The ``dasedge`` command.

Each sub-command lives in its own module that defines ``add_arguments(parser)``
and ``run(args) -> int``; they are imported lazily so ``dasedge info`` does
not pay for onnxruntime or FastAPI.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: sub-command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("dasedge.io.cli", "describe DAS files or folders (format, shape, time, sampling, distances)"),
    "simulate": ("dasedge.synth.cli", "write a synthetic traffic or earthquake scene with its truth table"),
    "broker": ("dasedge.streaming.broker_cli", "start/stop a local Apache Kafka broker (KRaft, 127.0.0.1)"),
    "ingest": ("dasedge.streaming.ingest_cli", "publish DAS files to Kafka (watch a folder or replay an archive)"),
    "traffic": ("pipelines.traffic.cli", "batch traffic detection on files, JSON Lines per vehicle"),
    "traffic-worker": ("pipelines.traffic.worker", "streaming traffic worker (Kafka consumer group)"),
    "seismic": ("pipelines.seismic.cli", "batch picking and association on files, JSON Lines"),
    "seismic-worker": ("pipelines.seismic.worker", "streaming seismic worker (Kafka consumer group)"),
    "model": ("pipelines.seismic.model_cli", "PhaseNet teacher port, PhaseNet-DAS training, export, fine-tuning"),
    "serve": ("service.edge.cli", "run the edge REST API, dashboard and cloud pusher"),
    "cloud": ("service.cloud.cli", "run the cloud REST API that aggregates many edges"),
    "keys": ("service.keys_cli", "create, list and revoke API keys"),
    "demo": ("dasedge.demo", "run the whole edge stack on an embedded default (local broker, SQLite, synthetic scene)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dasedge", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(_module=module)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # command not built yet / optional extra missing
            p.set_defaults(_missing=str(exc))
            continue
        mod.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Only import the module of the chosen command: build a parser lazily.
    parser = argparse.ArgumentParser(prog="dasedge", add_help=False)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("command", nargs="?")
    known, _ = parser.parse_known_args(argv)
    if known.command not in COMMANDS:
        build_parser().print_help()
        return 0 if known.command is None else 2
    module_name, help_ = COMMANDS[known.command]
    full = argparse.ArgumentParser(prog="dasedge")
    full.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = full.add_subparsers(dest="command")
    p = sub.add_parser(known.command, help=help_, description=help_)
    mod = importlib.import_module(module_name)
    mod.add_arguments(p)
    args = full.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
