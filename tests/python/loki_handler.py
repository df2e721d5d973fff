#!/usr/bin/env python3
"""Pushes log lines with python-logging-loki's LokiHandler (JSON to /loki/api/v1/push), as a
Python application does with the stdlib `logging` module.

Used by tests/tests/logs_clients.rs (`make e2e`); installed by tests/setup-e2e.sh.

    loki_handler.py --url http://127.0.0.1:8080/loki/api/v1/push --run RUN --lines 20

The handler's tags are application=e2e-loki-handler and run=<RUN>; record i is logged by the
logger "e2e.orders" as "loki handler line <i> run=<RUN>", at INFO for even i and WARNING for
odd i, with the extra tag request_id="r<i>". The handler adds the labels severity (the level
name, lowercase) and logger. A push that does not answer 204 fails the script (exit 1).

Prints one JSON object per line sent (line, severity, request_id) on stdout.
"""

import argparse
import json
import logging
import sys

import logging_loki


class StrictLokiHandler(logging_loki.LokiHandler):
    """Fails loudly: LokiHandler would only print the error of a push that was refused."""

    def handleError(self, record):
        raise  # re-raises the exception being handled by Handler.emit


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--lines", type=int, default=20)
    args = parser.parse_args()

    handler = StrictLokiHandler(
        url=args.url,
        tags={"application": "e2e-loki-handler", "run": args.run},
        version="1",
    )
    logger = logging.getLogger("e2e.orders")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)

    sent = []
    for i in range(args.lines):
        line = "loki handler line {} run={}".format(i, args.run)
        level = logging.INFO if i % 2 == 0 else logging.WARNING
        request_id = "r{}".format(i)
        try:
            logger.log(level, line, extra={"tags": {"request_id": request_id}})
        except Exception as e:  # noqa: BLE001 - report any failure of the push
            print("loki_handler: push {} to {} failed: {}".format(i, args.url, e), file=sys.stderr)
            return 1
        sent.append(
            {
                "line": line,
                "severity": logging.getLevelName(level).lower(),
                "request_id": request_id,
            }
        )
    handler.close()
    for record in sent:
        print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
