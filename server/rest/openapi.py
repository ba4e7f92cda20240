"""The OpenAPI 3.1 description of the REST API, generated from the protos.

``python -m server.rest.openapi`` compiles ``proto/`` (with comments: ``--include_source_info``) and
writes ``docs/openapi.json``; Envoy serves that file at ``GET /openapi.json``; a test fails when the
committed file is stale, as for the stubs. It describes what Envoy's gRPC-JSON transcoder serves
(``deploy/envoy/envoy.yaml.tmpl``), from the same ``google.api.http`` annotations:

- JSON field names are the proto names (``preserve_proto_field_names``); requests also take the
  lowerCamel names. Every scalar is printed in responses, defaults included. int64 and uint64 are
  JSON strings in responses (and strings or numbers in requests), bytes are base64, enums are
  their value names (requests may give their numbers), ``google.protobuf.Timestamp`` is RFC 3339.
- Messages allow no other properties: the sidecar's JSON check refuses unknown fields. Any field
  may be null, which proto3's JSON form reads as its default (responses never print null).
- A server stream is ``application/x-ndjson``, one message a line; a client stream takes a JSON
  array of its messages. A raw-body route (``google.api.HttpBody``) takes the image as the body.
- Every error is a ``google.rpc.Status`` JSON body (``default`` response).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from server.rest.sidecar import OPENAPI_DOCUMENT, SERVICES, build_descriptor_set

__all__ = ["DOCUMENT_PATH", "build_document", "main"]

DOCUMENT_PATH = OPENAPI_DOCUMENT
_F = descriptor_pb2.FieldDescriptorProto
_INT32 = {_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32, _F.TYPE_UINT32, _F.TYPE_FIXED32}
_INT64 = {_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64, _F.TYPE_UINT64, _F.TYPE_FIXED64}
_FLOAT = {_F.TYPE_FLOAT, _F.TYPE_DOUBLE}
# The proto3 JSON forms of the well-known types that are not objects of their fields.
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.FieldMask": {"type": "string"},
}
# Paths Envoy answers itself (the health check filter, the OpenAPI document, the web page).
_ENVOY_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "operationId": "Healthz",
            "summary": "Whether the server is SERVING, from Envoy's gRPC health check (no key needed).",
            "security": [{}],
            "responses": {
                "200": {
                    "description": "SERVING",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"status": {"type": "string", "enum": ["SERVING"]}},
                                "required": ["status"],
                            }
                        }
                    },
                },
                "default": {"$ref": "#/components/responses/Error"},
            },
        }
    },
    "/": {
        "get": {
            "operationId": "WebPage",
            "summary": "A page to read photos in a browser (server/rest/web/).",
            "security": [{}],
            "responses": {"200": {"description": "HTML", "content": {"text/html": {}}}},
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "OpenApi",
            "summary": "This document.",
            "security": [{}],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
        }
    },
}


@dataclass(frozen=True)
class _Api:
    """The compiled files: messages and enums by full name, with their comments."""

    files: tuple[descriptor_pb2.FileDescriptorProto, ...]
    messages: dict[str, descriptor_pb2.DescriptorProto]
    enums: dict[str, descriptor_pb2.EnumDescriptorProto]
    comments: dict[tuple[str, ...], str]


def _walk_messages(
    prefix: str, messages: Iterable[descriptor_pb2.DescriptorProto], path: tuple[int, ...]
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto, tuple[int, ...]]]:
    for index, message in enumerate(messages):
        name = f"{prefix}.{message.name}"
        here = (*path, index)
        yield name, message, here
        yield from _walk_messages(name, message.nested_type, (*here, 3))


def _comment(text: str) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines())


def _load(descriptor_set: descriptor_pb2.FileDescriptorSet) -> _Api:
    messages: dict[str, descriptor_pb2.DescriptorProto] = {}
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
    comments: dict[tuple[str, ...], str] = {}
    for file in descriptor_set.file:
        by_path = {tuple(loc.path): _comment(loc.leading_comments) for loc in file.source_code_info.location}
        for index, enum in enumerate(file.enum_type):
            enums[f"{file.package}.{enum.name}"] = enum
            comments[(f"{file.package}.{enum.name}",)] = by_path.get((5, index), "")
        for name, message, path in _walk_messages(file.package, file.message_type, (4,)):
            full = name
            messages[full] = message
            comments[(full,)] = by_path.get(path, "")
            for field_index, field in enumerate(message.field):
                comments[(full, field.name)] = by_path.get((*path, 2, field_index), "")
            for enum_index, enum in enumerate(message.enum_type):
                enums[f"{full}.{enum.name}"] = enum
                comments[(f"{full}.{enum.name}",)] = by_path.get((*path, 4, enum_index), "")
        for service_index, service in enumerate(file.service):
            for method_index, method in enumerate(service.method):
                key = (f"{file.package}.{service.name}", method.name)
                comments[key] = by_path.get((6, service_index, 2, method_index), "")
    return _Api(tuple(descriptor_set.file), messages, enums, comments)


def _schema_name(full_name: str) -> str:
    return full_name.lstrip(".")


def _ref(full_name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{_schema_name(full_name)}"}


class _Schemas:
    """The component schemas, added as messages are met."""

    def __init__(self, api: _Api) -> None:
        self.api = api
        self.components: dict[str, Any] = {}

    def field(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        if field.type == _F.TYPE_MESSAGE:
            entry = self.api.messages[_schema_name(field.type_name)]
            if entry.options.map_entry:
                _, value = entry.field
                # JSON object keys are strings whatever the key's type.
                return {"type": "object", "additionalProperties": self._single(value)}
        single = self._single(field)
        if field.label == _F.LABEL_REPEATED:
            return {"type": "array", "items": single}
        return single

    def _single(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        if field.type in _INT32:
            low = 0 if field.type in (_F.TYPE_UINT32, _F.TYPE_FIXED32) else -(2**31)
            return {"type": "integer", "format": "int32", "minimum": low, "maximum": 2**31 - 1}
        if field.type in _INT64:
            # A string in JSON (responses); requests may also send a number.
            return {"type": ["string", "integer"], "format": "int64", "pattern": "^-?[0-9]+$"}
        if field.type in _FLOAT:
            return {"type": "number", "format": "float" if field.type == _F.TYPE_FLOAT else "double"}
        if field.type == _F.TYPE_BOOL:
            return {"type": "boolean"}
        if field.type == _F.TYPE_STRING:
            return {"type": "string"}
        if field.type == _F.TYPE_BYTES:
            return {"type": "string", "contentEncoding": "base64"}
        if field.type == _F.TYPE_ENUM:
            return self.enum(_schema_name(field.type_name))
        return self.message(_schema_name(field.type_name))

    def enum(self, name: str) -> dict[str, Any]:
        if name not in self.components:
            enum = self.api.enums[name]
            # Responses print the names; requests may also give the numbers.
            self.components[name] = {
                "anyOf": [
                    {"type": "string", "enum": [value.name for value in enum.value]},
                    {"type": "integer", "enum": [value.number for value in enum.value]},
                ],
                "description": self.api.comments.get((name,), ""),
            }
        return _ref(name)

    def message(self, name: str, leave_out: frozenset[str] = frozenset()) -> dict[str, Any]:
        """A reference to the schema of message ``name`` (inline without the fields ``leave_out``)."""
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name.startswith("google.protobuf.") and name.endswith("Value") and name != "google.protobuf.Value":
            value = self.api.messages[name].field[0]
            return self._single(value)
        if leave_out:
            return self._object(name, leave_out)
        if name not in self.components:
            self.components[name] = {}  # a placeholder first: messages may refer to themselves
            self.components[name] = self._object(name, leave_out)
        return _ref(name)

    def _object(self, name: str, leave_out: frozenset[str]) -> dict[str, Any]:
        message = self.api.messages[name]
        properties = {}
        for field in message.field:
            if field.name in leave_out:
                continue
            schema = _or_null(self.field(field))
            described = self.api.comments.get((name, field.name), "")
            properties[field.name] = {**schema, "description": described} if described else schema
        return {
            "type": "object",
            "description": self.api.comments.get((name,), ""),
            "properties": properties,
            "additionalProperties": False,
        }


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or JSON null: proto3's JSON form takes null for any field as its default."""
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return {**schema, "type": [*types, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _scalar_query_fields(
    schemas: _Schemas, name: str, prefix: str, leave_out: frozenset[str], depth: int = 0
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(dotted name, schema, description) of each scalar field reachable as a query parameter."""
    message = schemas.api.messages[name]
    for field in message.field:
        if field.name in leave_out:
            continue
        dotted = f"{prefix}{field.name}"
        if field.type == _F.TYPE_MESSAGE:
            inner = _schema_name(field.type_name)
            if inner not in _WELL_KNOWN and depth < 3 and not schemas.api.messages[inner].options.map_entry:
                yield from _scalar_query_fields(schemas, inner, f"{dotted}.", frozenset(), depth + 1)
            continue
        yield dotted, schemas.field(field), schemas.api.comments.get((name, field.name), "")


def _error_response(content_type: str) -> dict[str, Any]:
    return {
        "description": "An error: a google.rpc.Status (code, message; details: BadRequest, RetryInfo, ...).",
        "content": {content_type: {"schema": _ref("google.rpc.Status")}},
    }


def _operation(
    schemas: _Schemas, service: str, method: descriptor_pb2.MethodDescriptorProto, rule: Any, verb: str
) -> dict[str, Any]:
    template: str = getattr(rule, verb)
    request = _schema_name(method.input_type)
    path_fields = frozenset(re.findall(r"\{([\w.]+)", template))
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in path_fields
    ]
    operation: dict[str, Any] = {
        "operationId": f"{service.rsplit('.', 1)[-1]}_{method.name}",
        "summary": schemas.api.comments.get((service, method.name), ""),
        "tags": [service.rsplit(".", 1)[-1]],
    }
    if rule.body == "*":
        body = schemas.message(request, path_fields)
        if method.client_streaming:
            body = {"type": "array", "items": body}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    elif rule.body:
        # A field of the request is the body: here always a google.api.HttpBody, the raw image.
        raw = {"schema": {"type": "string", "format": "binary"}}
        types = ("image/jpeg", "image/png", "image/webp", "image/bmp", "application/octet-stream")
        operation["requestBody"] = {"required": True, "content": dict.fromkeys(types, raw)}
    if rule.body != "*":
        leave_out = path_fields | ({rule.body} if rule.body else frozenset())
        for name, schema, text in _scalar_query_fields(schemas, request, "", leave_out):
            parameter = {"name": name, "in": "query", "required": False, "schema": schema}
            parameters.append({**parameter, "description": text} if text else parameter)
    if parameters:
        operation["parameters"] = parameters
    response = _schema_name(method.output_type)
    kind = "application/x-ndjson" if method.server_streaming else "application/json"
    described = "One JSON message a line." if method.server_streaming else "OK"
    error = "StreamError" if method.server_streaming else "Error"
    operation["responses"] = {
        "200": {"description": described, "content": {kind: {"schema": schemas.message(response)}}},
        "default": {"$ref": f"#/components/responses/{error}"},
    }
    return operation


def _openapi_path(template: str) -> str:
    return re.sub(r"\{([\w.]+)(=[^}]*)?\}", r"{\1}", template)


def build_document(descriptor_set: descriptor_pb2.FileDescriptorSet, version: str = "v1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``SERVICES``' HTTP rules in ``descriptor_set`` (compiled with
    ``--include_imports --include_source_info``)."""
    api = _load(descriptor_set)
    schemas = _Schemas(api)
    schemas.message("google.rpc.Status")
    paths: dict[str, dict[str, Any]] = {}
    for file in api.files:
        for service in file.service:
            full = f"{file.package}.{service.name}"
            if full not in SERVICES:
                continue
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                for binding in (rule, *rule.additional_bindings):
                    verb = binding.WhichOneof("pattern")
                    if verb is None or verb == "custom":
                        continue
                    path = _openapi_path(getattr(binding, verb))
                    paths.setdefault(path, {})[verb] = _operation(schemas, full, method, binding, verb)
    paths.update(_ENVOY_PATHS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Datalid REST API",
            "version": version,
            "description": (
                "Reads the expiry date on product packaging. REST through Envoy's gRPC-JSON "
                "transcoder in front of the datalid.v1 gRPC services; generated from proto/ by "
                "`python -m server.rest.openapi`."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "security": [{}, {"ApiKey": []}, {"Bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "responses": {
                "Error": _error_response("application/json"),
                "StreamError": _error_response("application/x-ndjson"),
            },
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "Bearer": {"type": "http", "scheme": "bearer", "description": "an API key or a JWT"},
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    """The committed form: two-space indent, a final newline."""
    # In the order built (openapi, info, ... first; paths and schemas sorted there): stable.
    return json.dumps(document, indent=2) + "\n"


def generate() -> str:
    """Compiles ``proto/`` and returns the document as ``render`` writes it."""
    with tempfile.TemporaryDirectory(prefix="datalid-openapi-") as work:
        path = build_descriptor_set(Path(work) / "api.pb", include_source_info=True)
        descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    return render(build_document(descriptor_set))


def main(argv: Sequence[str] | None = None) -> int:
    summary = __doc__.splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m server.rest.openapi", description=summary)
    parser.add_argument("--out", type=Path, default=DOCUMENT_PATH)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(generate())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
