"""What sits between the network and the services: auth, rate limits, metrics, tracing.

``Edge.from_config`` builds the parts once from the configuration; ``build_server`` puts them
into the interceptor chain in the order it writes down, and ``serve`` runs the metrics endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.sdk.trace import TracerProvider

from server.config import ConfigError, ServerConfig
from server.edge.auth import Authenticator, authenticator_from_config
from server.edge.metrics import JobCountsSource, ModelStatsSource, ServerMetrics
from server.edge.ratelimit import TokenBuckets
from server.edge.tracing import tracer_provider_from_config

__all__ = ["Edge"]


@dataclass
class Edge:
    """The edge's parts; ``None`` where a feature is off.

    Attributes:
        authenticator: None when auth is disabled (every caller is anonymous).
        buckets: None when rate limiting is off.
        metrics: always on; exported over HTTP only when ``metrics_port`` is not -1.
        tracer_provider: None when tracing is off.
    """

    authenticator: Authenticator | None
    buckets: TokenBuckets | None
    metrics: ServerMetrics
    tracer_provider: TracerProvider | None

    @classmethod
    def from_config(
        cls,
        config: ServerConfig,
        model_stats: ModelStatsSource = lambda: (),
        job_counts: JobCountsSource | None = None,
    ) -> Edge:
        """Builds the parts the configuration turns on.

        Raises:
            ConfigError: the keys file or a JWT key file is unreadable or malformed.
        """
        try:
            authenticator = authenticator_from_config(config) if config.auth_required else None
        except (OSError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
        buckets = None
        if config.rate_limit_rps > 0:
            buckets = TokenBuckets(config.rate_limit_rps, config.rate_limit_burst)
        return cls(
            authenticator=authenticator,
            buckets=buckets,
            metrics=ServerMetrics(model_stats, job_counts),
            tracer_provider=tracer_provider_from_config(config),
        )

    def close(self) -> None:
        """Flushes and stops the span exporter."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
