"""Server interceptors, applied in the order build_server lists them."""
