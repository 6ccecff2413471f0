"""Everything the sandbox answers, independent of HTTP plumbing: routing, the API key, faults on `/api/`, the slice
resources and the `/_sandbox/` control endpoints. `SandboxApi` takes a `Request` and gives a `Response`."""

import contextlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from slices_admin.kodexa.contract import ORCHESTRATOR_SLICE, RESOURCES, Resource, outside_contract
from slices_admin.sandbox.faults import FaultInjector, FaultSettings, FaultSettingsError
from slices_admin.sandbox.listing import page_body, page_query
from slices_admin.sandbox.messages import ApiError, Request, Response, is_int, json_response, validation_error
from slices_admin.sandbox.records import checked_fields, current_instant, new_record, rule_errors
from slices_admin.sandbox.seed import seed_store
from slices_admin.sandbox.store import TABLES, DuplicateId, SliceStore

HEALTH_PATH = "/_sandbox/health"
MAX_SEED_COUNT = 1_000_000
Endpoint = Callable[..., Response]  # called with the request, then the route's path parameters by name
Routes = list[tuple[re.Pattern[str], dict[str, Endpoint]]]  # each path pattern with its endpoints by method
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class AcceptedPuts:
    """When the orchestrator-slice PUTs the store applied happened: how many, the first and the last (seconds on
    this process's `time.monotonic()` clock, so only differences mean anything), from which a client measures the
    rate it sent them at. Constant memory however many arrive."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._first: float | None = None
        self._last: float | None = None

    def record(self) -> None:
        moment = time.monotonic()
        with self._lock:
            self._count += 1
            if self._first is None:
                self._first = moment
            self._last = moment

    def to_json(self) -> dict[str, int | float | None]:
        with self._lock:
            return {"count": self._count, "first": self._first, "last": self._last}


class SandboxApi:
    """Everything the sandbox answers, independent of HTTP plumbing: the slice resources and `/_sandbox/`."""

    def __init__(self, store: SliceStore, api_key: str, faults: FaultInjector):
        self.store = store
        self.faults = faults
        self._api_key = api_key.encode()
        self._requests = 0
        self._requests_lock = threading.Lock()
        self.accepted_puts = AcceptedPuts()
        self._routes = self._build_routes()

    def _build_routes(self) -> Routes:
        routes: Routes = []
        for resource in RESOURCES.values():
            item: dict[str, Endpoint] = {"GET": partial(self.get_slice, resource)}
            if resource is ORCHESTRATOR_SLICE:
                item["PUT"] = self.put_orchestrator_slice
            collection: dict[str, Endpoint] = {
                "GET": partial(self.list_slices, resource),
                "POST": partial(self.create_slice, resource),
            }
            routes.append((re.compile(rf"/api/{resource.path}/?"), collection))
            routes.append((re.compile(rf"/api/{resource.path}/(?P<record_id>[^/]+)"), item))
        routes += [
            (re.compile(HEALTH_PATH), {"GET": self.health}),
            (
                re.compile("/_sandbox/faults"),
                {"GET": self.get_faults, "PUT": self.put_faults, "DELETE": self.delete_faults},
            ),
            (re.compile("/_sandbox/stats"), {"GET": self.stats}),
            (re.compile("/_sandbox/seed"), {"POST": self.seed}),
        ]
        return routes

    def handle(self, request: Request) -> Response:
        """Authenticate, inject faults (into `/api/` only, before anything else happens), then route."""
        is_api = request.path.startswith("/api/")
        if is_api:
            with self._requests_lock:
                self._requests += 1
        if request.path != HEALTH_PATH and (is_api or request.path.startswith("/_sandbox/")):
            self._authenticate(request)
        if is_api:
            fault = self.faults.draw(request.method)
            if fault.delay_seconds:
                time.sleep(fault.delay_seconds)
            if fault.status is not None and not fault.after_handling:
                return fault.response()
            if fault.after_handling:
                endpoint, arguments = self._resolve(request)
                with contextlib.suppress(ApiError):
                    endpoint(request, **arguments)
                return fault.response()
        endpoint, arguments = self._resolve(request)
        return endpoint(request, **arguments)

    def _authenticate(self, request: Request) -> None:
        key = request.headers.get("x-api-key") or ""
        if not hmac.compare_digest(key.encode(), self._api_key):
            raise ApiError(HTTPStatus.UNAUTHORIZED, "Invalid or missing API key")

    def _resolve(self, request: Request) -> tuple[Endpoint, dict[str, str]]:
        for pattern, methods in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if request.method not in methods:
                allow = ", ".join(methods)
                raise ApiError(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    f"{request.method} is not allowed on {request.path}",
                    headers=(("Allow", allow),),
                )
            return methods[request.method], {name: unquote(value) for name, value in match.groupdict().items()}
        raise ApiError(HTTPStatus.NOT_FOUND, f"No route for {request.method} {request.path}")

    # Slice resources

    def _fields_outside(self, resource: Resource, body: Mapping[str, Any]) -> dict[str, Any]:
        """The body's fields outside the contract that this sandbox keeps (none, unless `unknownFields` says
        keep; refused with a 400 when it says refuse)."""
        outside = outside_contract(resource, body)
        policy = self.faults.settings.unknown_fields
        if outside and policy == "refuse":
            raise validation_error({name: f"is not a field of {resource.label}" for name in outside})
        return outside if policy == "keep" else {}

    def create_slice(self, resource: Resource, request: Request) -> Response:
        body = request.json_object()
        outside = self._fields_outside(resource, body)
        record = {
            **new_record(resource, checked_fields(resource, body, require_all=False), current_instant()),
            **outside,
        }
        if errors := rule_errors(record):
            raise validation_error(errors)
        try:
            text = self.store.insert(resource.path, record)
        except DuplicateId as error:
            raise ApiError(HTTPStatus.CONFLICT, f"{resource.label} {record['id']} already exists") from error
        return Response(HTTPStatus.CREATED, text.encode())

    def get_slice(self, resource: Resource, request: Request, record_id: str) -> Response:
        text = self.store.get(resource.path, record_id)
        if text is None:
            raise self._not_found(resource, record_id)
        return Response(HTTPStatus.OK, text.encode())

    def list_slices(self, resource: Resource, request: Request) -> Response:
        query, number, size = page_query(request, TABLES[resource.path].filter_fields)
        total, bodies = self.store.page(resource.path, query)
        return Response(HTTPStatus.OK, page_body(bodies, total, number, size))

    def put_orchestrator_slice(self, request: Request, record_id: str) -> Response:
        """Replace the whole record, guarded by its changeSequence (optimistic locking)."""
        resource = ORCHESTRATOR_SLICE
        if not _UUID.fullmatch(record_id):
            raise ApiError(HTTPStatus.BAD_REQUEST, "id must be a UUID")
        if self.store.get(resource.path, record_id) is None:
            raise self._not_found(resource, record_id)
        body = request.json_object()
        outside = self._fields_outside(resource, body)
        values = checked_fields(resource, body, require_all=True)
        errors = rule_errors(values)
        if values["id"] != record_id:
            errors["id"] = "must equal the id in the path"
        if errors:
            raise validation_error(errors)
        now = current_instant()

        def replaced(stored: dict[str, Any]) -> dict[str, Any]:
            current = stored["changeSequence"]
            if values["changeSequence"] != current:
                raise ApiError(
                    HTTPStatus.CONFLICT,
                    f"Stale changeSequence: sent {values['changeSequence']}, current is {current}",
                    currentChangeSequence=current,
                )
            immutable = {name: stored[name] for name in ("createdOn", "createdAt")}
            # A whole replacement: fields outside the contract are the body's (kept) or none (ignored).
            return {**values, "changeSequence": current + 1, "updatedOn": now, **immutable, **outside}

        text = self.store.update(resource.path, record_id, replaced)
        if text is None:
            raise self._not_found(resource, record_id)
        self.accepted_puts.record()
        return Response(HTTPStatus.OK, text.encode())

    @staticmethod
    def _not_found(resource: Resource, record_id: str) -> ApiError:
        return ApiError(HTTPStatus.NOT_FOUND, f"{resource.label} {record_id} not found")

    # Control endpoints

    def health(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, {"status": "ok"})

    def get_faults(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, self.faults.settings.to_json())

    def put_faults(self, request: Request) -> Response:
        try:
            settings = self.faults.settings.updated(request.json_object())
        except FaultSettingsError as error:
            raise validation_error(error.errors, "Invalid fault settings") from error
        return json_response(HTTPStatus.OK, self.faults.configure(settings).to_json())

    def delete_faults(self, request: Request) -> Response:
        return json_response(HTTPStatus.OK, self.faults.configure(FaultSettings()).to_json())

    def stats(self, request: Request) -> Response:
        """API requests served and accepted PUTs since this process started (`acceptedPuts`), and accepted PUTs per
        slice over the store's life (`putCounts`, kept in the data file)."""
        with self._requests_lock:
            requests = self._requests
        return json_response(
            HTTPStatus.OK,
            {"requests": requests, "acceptedPuts": self.accepted_puts.to_json(), "putCounts": self.store.put_counts()},
        )

    def seed(self, request: Request) -> Response:
        """Append demo data: `{"orchestratorSlices": N, "executionSlices": M, "seed": S}`, all optional.

        N defaults to 1000, M to N // 10, and S to the number of orchestrator slices stored, so that repeated
        calls add new records rather than regenerate existing ones.
        """
        body = request.json_object(allow_empty=True)
        orchestrator_count = body.get("orchestratorSlices", 1000)
        execution_count = body.get("executionSlices", orchestrator_count // 10 if is_int(orchestrator_count) else 0)
        seed = body.get("seed", self.store.count(ORCHESTRATOR_SLICE.path))
        errors = {
            name: f"must be an integer from 0 to {MAX_SEED_COUNT}"
            for name, value in (("orchestratorSlices", orchestrator_count), ("executionSlices", execution_count))
            if not is_int(value) or not 0 <= value <= MAX_SEED_COUNT
        }
        if not is_int(seed):
            errors["seed"] = "must be an integer"
        if errors:
            raise validation_error(errors)
        added = seed_store(
            self.store, orchestrator_count=orchestrator_count, execution_count=execution_count, seed=seed
        )
        return json_response(HTTPStatus.CREATED, {**added, "seed": seed})
