"""gRPC servicers of the datalid.v1 API."""
