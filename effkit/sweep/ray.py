"""The Ray engine of :func:`effkit.sweep.run.run_sweep`: one Ray task per configuration (each runs
:func:`effkit.measurement.run.measure_one`), rows stored as they come back.

An address is checked before ``ray.init`` (which retries for a long time on an address nothing Ray listens on).
"""

from __future__ import annotations

import socket
from typing import Optional

from effkit.errors import BackendUnavailableError, BadInputError, setting
from effkit.measurement import run as local
from effkit.measurement.failed import error_text, failed_row
from effkit.measurement.run import SweepEvent, SweepInterrupted

#: Seconds to wait for a TCP connection to a Ray head before calling it unreachable.
RAY_CONNECT_TIMEOUT_S = 5.0


def import_ray():
    try:
        import ray
    except ImportError:
        raise BackendUnavailableError(
            "the Ray engine needs Ray, which is not installed: pip install 'ray>=2.9' (in a checkout of "
            f"effkit: pip install -e '.[ray]'), or choose another {setting('engine')}", field="engine") from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast on a Ray address nothing (or nothing Ray) listens on; ray.init itself retries for a long time."""
    if address in ("auto", "local"):
        return
    client = address.startswith("ray://")
    target = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise BadInputError(f"malformed Ray address {address!r}; use HOST:PORT, ray://HOST:PORT or auto")
    host = host.strip("[]") or "127.0.0.1"
    hint = "check the address (`ray status` on the head node) and that this machine can connect to it"
    try:
        with socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S) as sock:
            reply = _greet(sock)
    except OSError as e:
        reason = "timed out" if isinstance(e, socket.timeout) else (e.strerror or str(e))
        raise BackendUnavailableError(f"cannot reach the Ray cluster at {address} ({reason}); {hint}") from None
    if reply is not None:
        raise BackendUnavailableError(f"{address} answers but is not a Ray node ({reply}); {hint}")
    if not client:
        _probe_gcs(address, f"{host}:{port}", hint)


#: An HTTP/2 client preface and an empty SETTINGS frame: a gRPC server (Ray's GCS and client server
#: are gRPC) answers with a SETTINGS frame of its own; anything else is not Ray.
_H2_GREETING = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_H2_SETTINGS = 4


def _greet(sock: socket.socket) -> Optional[str]:
    """Speak HTTP/2 to a connected socket, within :data:`RAY_CONNECT_TIMEOUT_S` in all.

    Needs nothing beyond the standard library, unlike a gRPC call (grpcio is optional for Ray).
    Returns ``None`` for a gRPC-like answer, else what came back instead, in words.
    """
    import time

    deadline = time.monotonic() + RAY_CONNECT_TIMEOUT_S
    data = b""
    try:
        sock.sendall(_H2_GREETING)
        while len(data) < 9:  # one HTTP/2 frame header
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = sock.recv(9 - len(data) if data[:1] == b"\x00" else 64)
            if not chunk:
                break
            data += chunk
            if data[:1] != b"\x00":  # not a frame header (a frame this small starts with a zero length byte)
                break
    except socket.timeout:
        return f"no reply to a gRPC greeting within {RAY_CONNECT_TIMEOUT_S:g} s" if not data else _shown(data)
    except OSError as e:
        return f"the connection failed: {e.strerror or e}"
    if len(data) >= 9 and data[3] == _H2_SETTINGS:
        return None
    return _shown(data) if data else "it closed the connection without a reply"


def _shown(data: bytes) -> str:
    text = " ".join(data[:200].decode("ascii", "replace").split())
    if text.startswith("HTTP/") or "<html" in text.lower() or "<!doctype" in text.lower():
        return f"it answered like a web server: {text[:40]!r}"
    return f"it replied {text[:40]!r}, not gRPC"


def _probe_gcs(address: str, target: str, hint: str) -> None:
    """Ask the head's GCS for its cluster id, so that an address ray.init would retry for a long time
    (a port that is not Ray, a cluster that wants a token we lack) fails in seconds with the reason."""
    import os

    try:
        import grpc
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc
    except ImportError:  # Ray's internals moved: skip the probe, ray.init will still tell
        return

    def ask(metadata=()) -> "grpc.StatusCode | None":
        channel = grpc.insecure_channel(target)
        try:
            stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
            stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=RAY_CONNECT_TIMEOUT_S,
                              metadata=metadata)
            return None
        except grpc.RpcError as e:
            return e.code()
        finally:
            channel.close()

    code = ask()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        raise BackendUnavailableError(f"cannot reach the Ray cluster at {address} (no answer); {hint}")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        raise BackendUnavailableError(
            f"{address} answers but is not a Ray head node (GCS, default port 6379); {hint}")
    if code != grpc.StatusCode.UNAUTHENTICATED:
        return
    token_help = ("provide the cluster's token as RAY_AUTH_TOKEN, in a file named by RAY_AUTH_TOKEN_PATH, "
                  "or in ~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        raise BackendUnavailableError(
            f"the Ray cluster at {address} requires token authentication: set RAY_AUTH_MODE=token and "
            f"{token_help}")
    try:
        from ray._private.authentication.grpc_authentication_client_interceptor import (
            _get_authentication_metadata_tuple,
        )

        metadata = _get_authentication_metadata_tuple()
    except Exception:  # private helper gone: ray.init will check the token itself
        return
    if ask(metadata) == grpc.StatusCode.UNAUTHENTICATED:
        raise BackendUnavailableError(f"the Ray cluster at {address} rejected this machine's token; {token_help}")


def _connect(ray, address: Optional[str]) -> bool:
    """Join or start Ray; returns whether this call started it (and must shut it down)."""
    if ray.is_initialized():
        if address not in (None, "auto"):
            current = ray.get_runtime_context().gcs_address
            if address.split("://", 1)[-1] != current:
                raise BadInputError(f"this process is already connected to the Ray cluster at {current}; "
                                    f"leave out the address {address!r}, or call ray.shutdown() first")
        return False
    import os

    # ray.init() with no address joins $RAY_ADDRESS when it is set: check that one just the same.
    target = address if address is not None else os.environ.get("RAY_ADDRESS") or None
    if target is not None:
        _check_reachable(target)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **({"configure_logging": False} if address is None else {}))
    except Exception as e:  # Ray raises many types here (ConnectionError, RuntimeError, its own); all mean "no cluster"
        where = f"at {target}" if target else "(local)"
        raise BackendUnavailableError(f"cannot start or join the Ray cluster {where}: {error_text(e)}") from e
    return True


def _cluster_machine_ids(ray, device: str) -> set[str]:
    """Every machine_id a task of this sweep could record: per node, and per GPU on GPU nodes.

    Computed on the nodes themselves, since a fingerprint hashes host name, CPU and GPU UUID.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    want_gpu = device != "cpu"
    refs = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        gpus = node.get("Resources", {}).get("GPU", 0) if want_gpu else 0
        opts: dict = {"num_cpus": 0, "max_retries": 0,
                      "scheduling_strategy": NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)}
        if gpus:
            opts["num_gpus"] = gpus  # all of them, so each one's UUID can be read
        # max_calls=1: the worker that saw every GPU exits, so no later task inherits its CUDA context
        refs.append(ray.remote(max_calls=1)(_node_machine_ids).options(**opts).remote(bool(gpus)))
    ids: set[str] = set()
    for ref in refs:
        try:
            ids.update(ray.get(ref, timeout=120))
        except Exception:  # a node that cannot answer (busy, lost) simply contributes nothing to skip
            pass
    return ids


def gpu_remote(ray, fn):
    """``fn`` as a Ray task holding one GPU, in a worker that exits after it (``max_calls=1``).

    Ray sets ``CUDA_VISIBLE_DEVICES`` when a worker starts a GPU task but reuses idle workers: without
    ``max_calls=1`` a worker that first saw GPU i (or every GPU, in the resume probe) can be handed a
    task for GPU j, and CUDA, already initialised, measures on i again.
    """
    return ray.remote(num_gpus=1, max_calls=1)(fn)


def _node_machine_ids(gpu: bool) -> list[str]:
    if not gpu:
        return [local.machine_id("cpu")]
    import torch

    return [local.machine_id(f"cuda:{i}") for i in range(torch.cuda.device_count())]


def run_ray(ray, configs, db, resume, address, measure_fn, emit, ray_num_cpus):
    started = _connect(ray, address)
    try:
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        devices = {c.device for c in configs}
        if any(d.startswith("cuda:") for d in devices):
            raise BadInputError("on Ray each task is given one GPU of its node, so use device cuda or auto, "
                                "not cuda:N")
        if cluster_gpus == 0 and "cuda" in devices:
            raise BadInputError("the sweep asks for device cuda but the Ray cluster has no GPUs; "
                                "use device: cpu (or auto)")
        with local.open_store(db) as (store, label):
            rows = _run_tasks(ray, configs, store, label, resume, devices, cluster_gpus, measure_fn, emit,
                              ray_num_cpus)
        return local.results_frame(rows)
    finally:
        if started:
            ray.shutdown()


def _run_tasks(ray, configs, store, label, resume, devices, cluster_gpus, measure_fn, emit, ray_num_cpus):
    """One task per configuration still to run, each row stored as its task returns; the rows, in that order."""
    todo = configs
    if resume:
        ids: set[str] = set()
        for dev in devices:
            ids |= _cluster_machine_ids(ray, "cpu" if dev == "cpu" or not cluster_gpus else dev)
        todo = local.pending_configs(configs, local.stored_counts(store, ids))
    skipped = len(configs) - len(todo)
    cpu_task, gpu_task = ray.remote(_ray_task), gpu_remote(ray, _ray_task)
    pending: dict = {}
    for c in todo:
        if cluster_gpus and c.device != "cpu":
            remote, opts = gpu_task, {"num_cpus": 1}
        else:
            remote, opts = cpu_task, {"num_cpus": ray_num_cpus or 1}
        # Failures are recorded, never retried: a retry would hide flaky configurations.
        pending[remote.options(max_retries=0, **opts).remote(c, measure_fn)] = c
    rows: list[dict] = []
    emit(SweepEvent("start", 0, len(todo), skipped))
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                c = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except Exception as e:  # the task itself died (worker crash, node lost, OOM)
                    row = failed_row(c, f"Ray task failed: {error_text(e)}"[:2000])
                if store is not None:
                    row["id"] = store.add(row)
                rows.append(row)
                emit(SweepEvent("done", len(rows), len(todo), skipped, config=c, row=row))
    except KeyboardInterrupt:
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception:
                pass
        raise SweepInterrupted(local.results_frame(rows), len(todo), label) from None
    return rows


def _ray_task(config, measure_fn):
    """Body of one Ray task: measure on this node, with this node's fingerprint in the row."""
    return local.measure_one(config, measure_fn)
