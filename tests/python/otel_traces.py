#!/usr/bin/env python3
"""Exports nested traces with the OpenTelemetry Python SDK, as instrumented services do:
one TracerProvider per service, each with a BatchSpanProcessor and the OTLPSpanExporter over
OTLP gRPC or OTLP/HTTP (protobuf).

Used by tests/tests/traces_clients.rs (`make e2e`); installed by tests/setup-e2e.sh.

    otel_traces.py --protocol grpc --endpoint http://127.0.0.1:4317 --traces 40 \
        [--org-id TENANT] [--gzip]
    otel_traces.py --protocol http --endpoint http://127.0.0.1:8080/v1/traces ...

Trace t (0-based) crosses three services, nine spans, with explicit start and end times:

    frontend  GET /checkout (server, 200+t ms)
    frontend  ├─ render (internal, 5 ms)
    frontend  └─ POST /orders (client)
    checkout     └─ place-order (server, 10+3t ms; order.id=t, amount=t+0.25, cache.hit=t even)
    checkout        ├─ validate-cart (internal, 2 ms; order.id=t)
    checkout        └─ POST /authorize (client)
    payment            └─ authorize (server, 5+(7t mod 60) ms; payment.method, http.status_code)
    payment               ├─ risk-score (internal, 3 ms)
    payment               └─ SELECT payments (client, 2 ms; db.system=postgresql)

Every span also carries e2e.protocol=<protocol>. Traces start two minutes ago, 100 ms apart.

Prints one JSON object per span (trace_id, span_id, parent_span_id, service, name, kind as
OTLP's SpanKind number, start_ns, end_ns, attributes rendered as text) on stdout, and exits 1
unless every span was exported successfully.
"""

import argparse
import json
import sys
import time

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

from otel_export import CountingExporter, make_exporter

MS = 1_000_000
SERVICES = ("frontend", "checkout", "payment")
PAYMENT_METHODS = ("card", "paypal", "voucher")


def render(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


class Recorder:
    """Starts and ends spans with explicit times and remembers what it sent."""

    def __init__(self, tracers, protocol):
        self.tracers = tracers
        self.protocol = protocol
        self.sent = []

    def span(self, service, name, kind, parent, start_ns, duration_ms, attributes=None):
        attributes = dict(attributes or {})
        attributes["e2e.protocol"] = self.protocol
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracers[service].start_span(
            name, context=context, kind=kind, attributes=attributes, start_time=start_ns
        )
        end_ns = start_ns + duration_ms * MS
        span.end(end_time=end_ns)
        ctx = span.get_span_context()
        parent_id = format(parent.get_span_context().span_id, "016x") if parent else ""
        self.sent.append(
            {
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_span_id": parent_id,
                "service": service,
                "name": name,
                "kind": kind.value + 1,
                "start_ns": start_ns,
                "end_ns": end_ns,
                "attributes": {k: render(v) for k, v in attributes.items()},
            }
        )
        return span


def export_trace(rec, t, start):
    """The nine spans of trace t. Parents are ended before their children are started, which
    the SDK allows: only the context travels."""
    root = rec.span("frontend", "GET /checkout", SpanKind.SERVER, None, start, 200 + t)
    rec.span("frontend", "render", SpanKind.INTERNAL, root, start + 1 * MS, 5)
    place_ms = 10 + 3 * t
    call = rec.span(
        "frontend", "POST /orders", SpanKind.CLIENT, root, start + 10 * MS, place_ms + 10
    )
    order = {"order.id": t, "amount": t + 0.25, "cache.hit": t % 2 == 0}
    place = rec.span(
        "checkout", "place-order", SpanKind.SERVER, call, start + 15 * MS, place_ms, order
    )
    rec.span(
        "checkout",
        "validate-cart",
        SpanKind.INTERNAL,
        place,
        start + 16 * MS,
        2,
        {"order.id": t},
    )
    auth_ms = 5 + (7 * t) % 60
    pay = rec.span(
        "checkout", "POST /authorize", SpanKind.CLIENT, place, start + 20 * MS, auth_ms + 2
    )
    payment = {
        "payment.method": PAYMENT_METHODS[t % 3],
        "http.status_code": 402 if t % 5 == 0 else 200,
    }
    auth = rec.span(
        "payment", "authorize", SpanKind.SERVER, pay, start + 21 * MS, auth_ms, payment
    )
    rec.span("payment", "risk-score", SpanKind.INTERNAL, auth, start + 22 * MS, 3)
    rec.span(
        "payment",
        "SELECT payments",
        SpanKind.CLIENT,
        auth,
        start + 23 * MS,
        2,
        {"db.system": "postgresql"},
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=["http", "grpc"], required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--traces", type=int, default=40)
    parser.add_argument("--org-id", default="")
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()

    providers, exporters, tracers = [], [], {}
    for service in SERVICES:
        resource = Resource.create({"service.name": service, "deployment.environment": "e2e"})
        exporter = CountingExporter(make_exporter("traces", args), SpanExportResult.SUCCESS)
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(exporter))
        providers.append(provider)
        exporters.append(exporter)
        tracers[service] = provider.get_tracer("e2e.shop", "1.2.3")

    rec = Recorder(tracers, args.protocol)
    base = time.time_ns() - 120 * 1_000_000_000
    for t in range(args.traces):
        export_trace(rec, t, base + t * 100 * MS)

    flushed = all(p.force_flush(timeout_millis=30000) for p in providers)
    for provider in providers:
        provider.shutdown()
    for span in rec.sent:
        print(json.dumps(span))
    exported = sum(e.exported for e in exporters)
    failed = sum(e.failed for e in exporters)
    if not flushed or failed or exported != len(rec.sent):
        print(
            "otel_traces: exported {} of {} spans ({} failed, flushed={}) to {} over {}".format(
                exported, len(rec.sent), failed, flushed, args.endpoint, args.protocol
            ),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
