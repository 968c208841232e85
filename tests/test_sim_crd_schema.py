"""The structural schema module: pruning, defaulting and each validation error, in the
API server's words."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.cluster.sim.schema import admit, aggregate, go_value
from sandbox.cluster.sim.structural import structural_problems

SPEC: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["secretName"],
            "properties": {
                "secretName": {"type": "string", "minLength": 3, "maxLength": 20,
                               "pattern": "^[a-z][-a-z0-9]*$"},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1},
                "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                          "multipleOf": 0.5},
                "enabled": {"type": "boolean"},
                "mode": {"type": "string", "enum": ["Strict", "Lenient"]},
                "port": {"x-kubernetes-int-or-string": True},
                "dnsNames": {"type": "array", "minItems": 1, "maxItems": 2,
                             "items": {"type": "string"}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                           "properties": {"known": {"type": "object",
                                                    "properties": {"a": {"type": "string"}}}}},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "properties": {"spec": {"type": "object",
                                                     "properties": {"x": {"type": "string"}}}}},
                "nothing": {"type": "string", "nullable": True},
                "issuerRef": {"type": "object", "properties": {
                    "name": {"type": "string"}, "kind": {"type": "string"}}},
            },
        },
    },
}


def cert(**spec: Any) -> dict[str, Any]:
    body = {"secretName": "web-tls", **spec}
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "web", "namespace": "default"}, "spec": body}


def errors_of(obj: dict[str, Any]) -> list[str]:
    _, errs = admit(obj, SPEC)
    return [str(e) for e in errs]


# -- pruning ----------------------------------------------------------------------------

def test_unknown_fields_are_pruned_and_reported() -> None:
    obj = cert(replicass=3, issuerRef={"name": "ca", "kindd": "Issuer"})
    obj["extra"] = {"x": 1}
    pruned, errs = admit(obj, SPEC)
    assert errs == []
    assert pruned == ["spec.replicass", "spec.issuerRef.kindd", "extra"]
    assert "replicass" not in obj["spec"] and obj["spec"]["issuerRef"] == {"name": "ca"}
    assert "extra" not in obj
    assert obj["apiVersion"] == "cert-manager.io/v1" and obj["kind"] == "Certificate"


def test_unknown_metadata_fields_are_pruned_but_object_meta_stays() -> None:
    obj = cert()
    obj["metadata"].update(labels={"a": "b"}, bogus="x")
    pruned, _ = admit(obj, SPEC)
    assert pruned == ["metadata.bogus"]
    assert obj["metadata"] == {"name": "web", "namespace": "default", "labels": {"a": "b"}}


def test_preserve_unknown_fields_keeps_unknown_but_prunes_known_subtrees() -> None:
    obj = cert(values={"anything": {"deep": [1, 2]}, "known": {"a": "x", "b": "gone"}})
    pruned, errs = admit(obj, SPEC)
    assert errs == []
    assert pruned == ["spec.values.known.b"]
    assert obj["spec"]["values"] == {"anything": {"deep": [1, 2]}, "known": {"a": "x"}}


def test_embedded_resource_keeps_its_type_meta_and_prunes_the_rest() -> None:
    obj = cert(template={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "x": 1},
                         "spec": {"x": "y", "z": 1}, "status": {}})
    pruned, _ = admit(obj, SPEC)
    assert sorted(pruned) == ["spec.template.metadata.x", "spec.template.spec.z",
                              "spec.template.status"]
    assert obj["spec"]["template"] == {"apiVersion": "v1", "kind": "Pod",
                                       "metadata": {"name": "p"}, "spec": {"x": "y"}}


def test_additional_properties_schema_applies_to_every_key() -> None:
    assert errors_of(cert(labels={"a": "b", "c": 3})) == [
        'spec.labels.c: Invalid value: "integer": spec.labels.c in body must be of type '
        'string: "integer"']


# -- defaulting and nulls ---------------------------------------------------------------

def test_defaults_fill_missing_fields_and_non_nullable_nulls() -> None:
    obj = cert()
    admit(obj, SPEC)
    assert obj["spec"]["replicas"] == 1
    obj = cert(replicas=None, enabled=None, nothing=None)
    _, errs = admit(obj, SPEC)
    assert errs == []
    assert obj["spec"]["replicas"] == 1 and "enabled" not in obj["spec"]
    assert obj["spec"]["nothing"] is None  # nullable: kept as sent


# -- type errors, one per type ----------------------------------------------------------

@pytest.mark.parametrize("field,value,want,actual", [
    ("replicas", "three", "integer", "string"),
    ("replicas", 2.5, "integer", "number"),
    ("replicas", True, "integer", "boolean"),
    ("secretName", 42, "string", "integer"),
    ("enabled", "yes", "boolean", "string"),
    ("ratio", "half", "number", "string"),
    ("dnsNames", "a.example.com", "array", "string"),
    ("issuerRef", ["ca"], "object", "array"),
    ("port", True, "integer,string", "boolean"),
    ("port", {"n": 1}, "integer,string", "object"),
])
def test_type_errors_name_the_field_path(field: str, value: Any, want: str,
                                         actual: str) -> None:
    assert errors_of(cert(**{field: value})) == [
        f'spec.{field}: Invalid value: "{actual}": spec.{field} in body must be of type '
        f'{want}: "{actual}"']


def test_numbers_that_are_whole_pass_as_integers_and_integers_as_numbers() -> None:
    assert errors_of(cert(replicas=2.0, ratio=1, port=8080)) == []
    assert errors_of(cert(port="http")) == []


def test_type_error_inside_an_array_names_the_index() -> None:
    assert errors_of(cert(dnsNames=["a", 7])) == [
        'spec.dnsNames[1]: Invalid value: "integer": spec.dnsNames[1] in body must be of type '
        'string: "integer"']


def test_null_in_an_array_is_a_type_error() -> None:
    assert errors_of(cert(dnsNames=[None])) == [
        'spec.dnsNames[0]: Invalid value: "null": spec.dnsNames[0] in body must be of type '
        'string: "null"']


# -- value validations ------------------------------------------------------------------

def test_required() -> None:
    obj = cert()
    del obj["spec"]["secretName"]
    assert errors_of(obj) == ["spec.secretName: Required value"]


def test_enum() -> None:
    assert errors_of(cert(mode="Loose")) == [
        'spec.mode: Unsupported value: "Loose": supported values: "Strict", "Lenient"']


@pytest.mark.parametrize("value,message", [
    (0, "spec.replicas: Invalid value: 0: spec.replicas in body should be greater than or "
        "equal to 1"),
    (9, "spec.replicas: Invalid value: 9: spec.replicas in body should be less than or "
        "equal to 5"),
])
def test_minimum_and_maximum(value: int, message: str) -> None:
    assert errors_of(cert(replicas=value)) == [message]


def test_exclusive_minimum_and_multiple_of() -> None:
    assert errors_of(cert(ratio=0)) == [
        "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"]
    assert errors_of(cert(ratio=0.75)) == [
        "spec.ratio: Invalid value: 0.75: spec.ratio in body should be a multiple of 0.5"]


def test_string_length_and_pattern() -> None:
    assert errors_of(cert(secretName="ab")) == [
        'spec.secretName: Invalid value: "ab": spec.secretName in body should be at least 3 '
        'chars long']
    assert errors_of(cert(secretName="a" * 21)) == [
        "spec.secretName: Too long: may not be longer than 20"]
    assert errors_of(cert(secretName="Web_TLS")) == [
        'spec.secretName: Invalid value: "Web_TLS": spec.secretName in body should match '
        "'^[a-z][-a-z0-9]*$'"]


def test_min_and_max_items() -> None:
    assert errors_of(cert(dnsNames=[])) == [
        "spec.dnsNames: Invalid value: 0: spec.dnsNames in body should have at least 1 items"]
    assert errors_of(cert(dnsNames=["a", "b", "c"])) == [
        "spec.dnsNames: Too many: 3: must have at most 2 items"]


def test_any_of() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "size": {"anyOf": [{"type": "integer"}, {"type": "string"}],
                 "x-kubernetes-int-or-string": True,
                 "pattern": "^[0-9]+(Mi|Gi)$"}}}}}
    obj = {"spec": {"size": "10Gi"}}
    assert admit(obj, schema)[1] == []


def test_several_errors_are_joined_as_the_api_server_joins_them() -> None:
    _, errs = admit(cert(replicas="x", mode="Loose"), SPEC)
    assert aggregate(errs) == (
        '[spec.replicas: Invalid value: "string": spec.replicas in body must be of type '
        'integer: "string", spec.mode: Unsupported value: "Loose": supported values: '
        '"Strict", "Lenient"]')


def test_go_value_prints_as_go_does() -> None:
    assert [go_value(v) for v in (3.0, 0.5, True, None, "a")] == ["3", "0.5", "true", "null",
                                                                '"a"']


# -- the CRD side: structural or not ----------------------------------------------------

ROOT = "spec.versions[0].schema.openAPIV3Schema"


def problems(schema: Any) -> list[str]:
    return [str(e) for e in structural_problems(schema, ROOT)]


def test_a_good_schema_is_structural() -> None:
    assert problems(SPEC) == []


def test_missing_types_are_required_at_each_level() -> None:
    schema = {"type": "object", "properties": {
        "spec": {"properties": {"a": {"type": "array", "items": {}}}}}}
    assert problems(schema) == [
        f"{ROOT}.properties[spec].properties[a].items.type: Required value: must not be empty "
        "for specified array items",
        f"{ROOT}.properties[spec].type: Required value: must not be empty for specified "
        "object fields"]
    assert problems({"properties": {}}) == [
        f"{ROOT}.type: Required value: must not be empty at the root"]


def test_root_must_be_an_object_and_arrays_need_items() -> None:
    assert problems({"type": "array"}) == [
        f"{ROOT}.items: Required value: must be specified",
        f'{ROOT}.type: Invalid value: "array": must be object at the root']


def test_forbidden_constructs() -> None:
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "$ref": "#/definitions/x",
                 "properties": {"a": {"type": "string"}},
                 "additionalProperties": {"type": "string"}},
        "kind": {"type": "strin"}}}
    assert problems(schema) == [
        f"{ROOT}.properties[spec].$ref: Forbidden: $ref is not supported",
        f"{ROOT}.properties[spec].additionalProperties: Forbidden: additionalProperties and "
        "properties are mutual exclusive",
        f'{ROOT}.properties[kind].type: Unsupported value: "strin": supported values: '
        '"array", "boolean", "integer", "number", "object", "string"']


def test_metadata_may_only_restrict_name() -> None:
    schema = {"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}}
    assert problems(schema) == [
        f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than name "
        "and generateName, but metadata is implicitly specified"]
    ok = {"type": "object", "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string",
                                                               "maxLength": 63}}}}}
    assert problems(ok) == []


def test_extension_conflicts() -> None:
    schema = {"type": "object", "properties": {"p": {
        "x-kubernetes-int-or-string": True, "x-kubernetes-preserve-unknown-fields": True}}}
    assert problems(schema) == [
        f"{ROOT}.properties[p].x-kubernetes-preserve-unknown-fields: Invalid value: true: "
        "must be false if x-kubernetes-int-or-string is true"]
    assert problems({"type": "object", "x-kubernetes-preserve-unknown-fields": False}) == [
        f"{ROOT}.x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or "
        "undefined"]


def test_value_validations_may_not_carry_types() -> None:
    schema = {"type": "object", "properties": {"p": {
        "type": "string", "anyOf": [{"type": "string", "pattern": "a"}]}}}
    assert problems(schema) == [
        f"{ROOT}.properties[p].anyOf[0].type: Forbidden: must be empty to be structural"]
