#!/usr/bin/env python3
"""Exports log records with the OpenTelemetry Python SDK, as an instrumented application does:
a LoggerProvider with a BatchLogRecordProcessor and the OTLPLogExporter over OTLP/HTTP or gRPC.

Used by tests/tests/logs_clients.rs (`make e2e`); installed by tests/setup-e2e.sh.

    otel_logs.py --protocol http --endpoint http://127.0.0.1:8080/otlp/v1/logs \
        --service checkout --run RUN --lines 20 [--org-id TENANT] [--gzip]
    otel_logs.py --protocol grpc --endpoint http://127.0.0.1:4317 ...

Record i has the body "<protocol> record <i> run=<RUN>", severity INFO, the attributes
order.id="o<i>" and attempt=<i>; even records are emitted inside a span, so they carry its
trace and span ids. The resource has service.name, deployment.environment=e2e and
host.name=e2e-host; the scope is "e2e.checkout" version "1.2.3".

Prints one JSON object per record (line, trace_id, span_id; empty ids when not in a span) on
stdout, and exits 1 unless every record was exported successfully.
"""

import argparse
import json
import sys
import time

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_export import CountingExporter, make_exporter


def hex_id(value, width):
    return format(value, "0{}x".format(width)) if value else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=["http", "grpc"], required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--org-id", default="")
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()

    resource = Resource.create(
        {
            "service.name": args.service,
            "deployment.environment": "e2e",
            "host.name": "e2e-host",
        }
    )
    exporter = CountingExporter(make_exporter("logs", args), LogRecordExportResult.SUCCESS)
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    logger = provider.get_logger("e2e.checkout", version="1.2.3")
    tracer = TracerProvider(resource=resource).get_tracer("e2e.checkout")

    sent = []
    for i in range(args.lines):
        line = "{} record {} run={}".format(args.protocol, i, args.run)
        fields = dict(
            timestamp=time.time_ns(),
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            body=line,
            attributes={"order.id": "o{}".format(i), "attempt": i},
        )
        if i % 2 == 0:
            with tracer.start_as_current_span("place-order") as span:
                logger.emit(**fields)
                ctx = span.get_span_context()
                ids = (hex_id(ctx.trace_id, 32), hex_id(ctx.span_id, 16))
        else:
            logger.emit(**fields)
            ids = ("", "")
        sent.append({"line": line, "trace_id": ids[0], "span_id": ids[1]})

    flushed = provider.force_flush(timeout_millis=30000)
    provider.shutdown()
    for record in sent:
        print(json.dumps(record))
    if not flushed or exporter.failed or exporter.exported != len(sent):
        print(
            "otel_logs: exported {} of {} records ({} failed, flushed={}) to {} over {}".format(
                exporter.exported,
                len(sent),
                exporter.failed,
                flushed,
                args.endpoint,
                args.protocol,
            ),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
