"""The KServe v2 / Triton inference protocol: tensors, models, statistics and the gRPC service."""
