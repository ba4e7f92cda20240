"""Asynchronous jobs: their values (``records``), the stores (``sqlite`` on one machine,
``postgres`` shared by replicas) and the runner."""
