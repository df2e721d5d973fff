"""What the OpenTelemetry SDK scripts share: an exporter for one signal over OTLP/HTTP or gRPC
(tenant header, optional gzip), wrapped to count what it exported or failed to."""

# The exporter classes of each signal: (HTTP module, gRPC module, class name).
EXPORTERS = {
    "traces": (
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
        "OTLPSpanExporter",
    ),
    "logs": (
        "opentelemetry.exporter.otlp.proto.http._log_exporter",
        "opentelemetry.exporter.otlp.proto.grpc._log_exporter",
        "OTLPLogExporter",
    ),
}


class CountingExporter:
    """Delegates to the real exporter and counts the items it exported or failed to;
    `success` is the SDK's success result of the signal."""

    def __init__(self, inner, success):
        self.inner = inner
        self.success = success
        self.exported = 0
        self.failed = 0

    def export(self, batch):
        result = self.inner.export(batch)
        if result == self.success:
            self.exported += len(batch)
        else:
            self.failed += len(batch)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)


def make_exporter(signal, args):
    """The OTLP exporter of `signal` for `args.protocol` (`http` or `grpc`), `args.endpoint`,
    `args.org_id` (tenant, optional) and `args.gzip`."""
    import importlib

    http_module, grpc_module, name = EXPORTERS[signal]
    if args.protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression

        exporter = getattr(importlib.import_module(http_module), name)
        headers = {"X-Scope-OrgID": args.org_id} if args.org_id else None
        compression = Compression.Gzip if args.gzip else Compression.NoCompression
        return exporter(endpoint=args.endpoint, headers=headers, compression=compression, timeout=10)
    import grpc

    exporter = getattr(importlib.import_module(grpc_module), name)
    # gRPC metadata keys are lowercase.
    headers = {"x-scope-orgid": args.org_id} if args.org_id else None
    compression = grpc.Compression.Gzip if args.gzip else grpc.Compression.NoCompression
    return exporter(
        endpoint=args.endpoint,
        insecure=True,
        headers=headers,
        compression=compression,
        timeout=10,
    )
