"""The Datalid gRPC server: wires the pipeline into grpc.aio services."""

__version__ = "0.1.0"
