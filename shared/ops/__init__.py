"""Running processes: logging, metrics, liveness, GC and allocator tuning, how a service describes itself."""
