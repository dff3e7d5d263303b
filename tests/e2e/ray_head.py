"""One local Ray instance on loopback for a test module, started and stopped by its fixture."""
import os
from contextlib import contextmanager


@contextmanager
def local_ray(cpus: int = 2, env: dict | None = None):
    """Start Ray here with ``cpus`` CPUs (its workers inherit ``env``, set for the block and
    restored after); yields the head's address for the CLI and the server."""
    import ray
    env = env or {}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        ctx = ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                       log_to_driver=False, logging_level="ERROR")
        try:
            yield ctx.address_info["gcs_address"]
        finally:
            ray.shutdown()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
