"""OpenTelemetry set-up: a tracer provider per server, with the configured exporter."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

from server import __version__
from server.config import ServerConfig

__all__ = ["tracer_provider_from_config"]


def tracer_provider_from_config(config: ServerConfig) -> TracerProvider | None:
    """A provider exporting to the console or OTLP/HTTP, or None when tracing is off.

    The provider is the server's own (never installed as the global one), so tests and
    embedders can run several servers, each with its own exporter.
    """
    if config.tracing == "off":
        return None
    resource = Resource.create({"service.name": "datalid", "service.version": __version__})
    provider = TracerProvider(resource=resource)
    if config.tracing == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        # Imported only when asked for: it pulls in requests.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=config.otlp_endpoint)))
    return provider
