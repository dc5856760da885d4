"""The project's OCSF 1.5.0 validator.

``ocsf-json-schema`` turns the OCSF 1.5.0 export it bundles into a JSON Schema per class and profile
set, and ``jsonschema`` checks events against it (types, enums, required attributes, constraints,
unknown attributes, profile gating). JSON Schema cannot express a few rules the OCSF server
enforces, so they are checked here by hand:

* ``type_uid == class_uid * 100 + activity_id``;
* ``metadata.version`` is exactly ``"1.5.0"``;
* every name in ``metadata.profiles`` is an OCSF 1.5.0 profile that applies to the class, and an
  attribute a profile adds is only used when that profile is declared (reported with the profile's
  name rather than as a bare "additional property");
* ``observables[].name`` is the path of an attribute of the class;
* an enum's caption sibling (``activity_name``, ``severity``, ``os.type``, ``malware[].
  classifications``, ...) is the caption of its id, except for 99 Other, whose sibling carries the
  source's own word (the OCSF server only warns here; this project treats it as an error);
* the class is one this provider emits (``netskope_provider.registry.CLASSES``).

Speed: jsonschema walks an OCSF event in about a millisecond, too slow for the corpora the tests
validate. So each generated schema is also compiled here into plain Python checks for the
keywords ``ocsf-json-schema`` emits (type, properties, additionalProperties, required, enum,
const, items, $ref, anyOf/oneOf of required, pattern, maxLength, minimum, maximum); an unknown
keyword stops the compilation rather than being skipped. The compiled check only decides
validity: an event it rejects is run through jsonschema, whose errors are reported (and which
stays the judge). Both are cached per (class, profiles); ``validate_event(..., thorough=True)``
always runs jsonschema, which the tests use to show the two agree.

``ocsf-json-schema`` and ``jsonschema`` are test-time dependencies (the ``test`` extra); importing
this module without them fails with an error that says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import orjson

from netskope_provider.registry import CLASSES

try:
    from jsonschema import Draft202012Validator
    from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "OCSF validation needs the 'ocsf-json-schema' and 'jsonschema' packages: "
        "install them with `pip install 'airflow-provider-netskope[test]'`"
    ) from exc

OCSF_VERSION = "1.5.0"

#: Keyword under which each generated (sub)schema records the attributes its undeclared profiles
#: would add; jsonschema ignores unknown keywords, so it costs nothing during validation.
_GATED = "x-profile-gated"


class _Schema:
    """The raw OCSF 1.5.0 export plus the lookups the extra checks need."""

    def __init__(self) -> None:
        self.raw: dict[str, Any] = get_ocsf_schema(OCSF_VERSION)
        self.embedded = OcsfJsonSchemaEmbedded(self.raw)
        self.objects: dict[str, dict[str, Any]] = self.raw["objects"]
        self.profiles: frozenset[str] = frozenset(
            profile for cls in self.raw["classes"].values() for profile in cls.get("profiles") or ()
        )

    @staticmethod
    def gated(attributes: dict[str, Any], declared: frozenset[str]) -> dict[str, str]:
        """Attributes that only exist with a profile that is not declared: name -> profile."""
        return {
            name: spec["profile"]
            for name, spec in attributes.items()
            if spec.get("profile") and spec["profile"] not in declared
        }

    def attribute(self, attributes: dict[str, Any], name: str, declared: frozenset[str]) -> dict[str, Any] | None:
        spec = attributes.get(name)
        if spec is None or (spec.get("profile") and spec["profile"] not in declared):
            return None
        return spec


@lru_cache(maxsize=1)
def _schema() -> _Schema:
    return _Schema()


@lru_cache(maxsize=256)
def _compiled(class_name: str, profiles: frozenset[str]) -> Draft202012Validator:
    """A compiled jsonschema validator for one class and profile set, annotated with gated attributes."""
    schema = _schema()
    profile_list = sorted(profiles)
    document = schema.embedded.get_class_schema(class_name, profile_list)
    document[_GATED] = schema.gated(schema.raw["classes"][class_name]["attributes"], profiles)
    slugs = {name.replace("/", "_"): name for name in schema.objects}
    for slug, sub in document.get("$defs", {}).items():
        sub[_GATED] = schema.gated(schema.objects[slugs[slug]]["attributes"], profiles)
    _fix_string_limits(document)
    return Draft202012Validator(document)


Check = Callable[[Any], bool]

#: JSON Schema keywords that only annotate (no assertion) in what ocsf-json-schema generates.
_ANNOTATIONS = frozenset({"title", "deprecated", "$schema", "$id", "$defs", "description", _GATED})
_HANDLED = _ANNOTATIONS | {
    "type", "properties", "additionalProperties", "required", "enum", "const", "items", "$ref",
    "anyOf", "oneOf", "pattern", "maxLength", "minimum", "maximum",
}  # fmt: skip


def _is_integer(value: Any) -> bool:
    kind = type(value)
    return kind is int or (kind is float and value.is_integer())


_TYPE_CHECKS: dict[str, Check] = {
    "object": lambda value: type(value) is dict,
    "array": lambda value: type(value) is list,
    "string": lambda value: type(value) is str,
    "boolean": lambda value: type(value) is bool,
    "integer": _is_integer,
    "number": lambda value: type(value) is int or type(value) is float,
    "null": lambda value: value is None,
}


class _Compiler:
    """Plain-Python validity checks for one generated class schema (see the module docstring)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.defs: dict[str, dict[str, Any]] = document.get("$defs", {})
        self.compiled: dict[str, Check] = {}

    def reference(self, ref: str) -> Check:
        name = ref.rsplit("/", 1)[1]
        found = self.compiled.get(name)
        if found is None:
            compiled = self.compiled

            def deferred(value: Any) -> bool:  # resolved at call time: OCSF objects nest recursively
                return compiled[name](value)

            compiled[name] = deferred
            compiled[name] = self.node(self.defs[name])
            found = compiled[name]
        return found

    def node(self, schema: dict[str, Any]) -> Check:
        unknown = set(schema) - _HANDLED
        if unknown:
            raise NotImplementedError(f"JSON Schema keywords the fast validator does not handle: {sorted(unknown)}")
        if "$ref" in schema:
            return self.reference(schema["$ref"])
        checks: list[Check] = []
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [_TYPE_CHECKS[k] for k in kind]
            checks.append(lambda value: any(check(value) for check in kinds))
        elif kind is not None:
            checks.append(_TYPE_CHECKS[kind])
        if "properties" in schema or "required" in schema or "anyOf" in schema or "oneOf" in schema:
            checks.append(self.object_checks(schema))
        if "items" in schema:
            item = self.node(schema["items"])
            checks.append(lambda value: type(value) is not list or all(item(element) for element in value))
        if "enum" in schema or "const" in schema:
            allowed = frozenset(schema["enum"] if "enum" in schema else [schema["const"]])
            checks.append(lambda value: type(value) in (int, float, str) and value in allowed)
        if "pattern" in schema:
            search = re.compile(schema["pattern"]).search
            checks.append(lambda value: type(value) is not str or search(value) is not None)
        if "maxLength" in schema:
            limit = schema["maxLength"]
            checks.append(lambda value: type(value) is not str or len(value) <= limit)
        if "minimum" in schema or "maximum" in schema:
            low, high = schema.get("minimum", float("-inf")), schema.get("maximum", float("inf"))
            checks.append(lambda value: type(value) not in (int, float) or low <= value <= high)
        if len(checks) == 1:
            return checks[0]
        return lambda value: all(check(value) for check in checks)

    def object_checks(self, schema: dict[str, Any]) -> Check:
        properties = {name: self.node(sub) for name, sub in schema.get("properties", {}).items()}
        closed = schema.get("additionalProperties") is False
        required = tuple(schema.get("required", ()))
        any_of = [tuple(sub["required"]) for sub in schema.get("anyOf", ())]
        one_of = [tuple(sub["required"]) for sub in schema.get("oneOf", ())]
        for sub in (*schema.get("anyOf", ()), *schema.get("oneOf", ())):
            if set(sub) != {"required"}:
                raise NotImplementedError(f"anyOf/oneOf other than required lists: {sub}")

        def check(value: Any) -> bool:
            if type(value) is not dict:
                return True
            for key, item in value.items():
                prop = properties.get(key)
                if prop is None:
                    if closed:
                        return False
                elif not prop(item):
                    return False
            for key in required:
                if key not in value:
                    return False
            if any_of and not any(all(key in value for key in keys) for keys in any_of):
                return False
            if one_of and sum(all(key in value for key in keys) for keys in one_of) != 1:
                return False
            return True

        return check


@lru_cache(maxsize=256)
def _fast(class_name: str, profiles: frozenset[str]) -> Check:
    """The plain-Python validity check of one class and profile set."""
    document = _compiled(class_name, profiles).schema
    return _Compiler(document).node(document)


def _fix_string_limits(node: Any) -> None:
    """ocsf-json-schema copies ``max_len`` through as a string ("40"); JSON Schema needs an integer."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("maxLength", "minimum", "maximum") and isinstance(value, str):
                node[key] = int(value)
            else:
                _fix_string_limits(value)
    elif isinstance(node, list):
        for item in node:
            _fix_string_limits(item)


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<event>"


def _describe(error: Any) -> str:
    """One jsonschema error as ``path: message``, phrased in OCSF terms where that helps."""
    where = _path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        gated = error.schema.get(_GATED, {})
        notes = []
        for key in sorted(k for k in error.instance if k not in allowed):
            if key in gated:
                notes.append(f"{key!r} needs profile {gated[key]!r} in metadata.profiles")
            else:
                notes.append(f"{key!r} is not an OCSF {OCSF_VERSION} attribute here")
        return f"{where}: " + "; ".join(notes)
    if error.validator in ("anyOf", "oneOf") and all(set(sub) == {"required"} for sub in error.validator_value):
        names = ", ".join(name for sub in error.validator_value for name in sub["required"])
        kind = "at least one" if error.validator == "anyOf" else "exactly one"
        return f"{where}: needs {kind} of: {names}"
    message = error.message
    return f"{where}: {message if len(message) <= 300 else message[:297] + '...'}"


def _observable_resolves(name: str, class_name: str, declared: frozenset[str]) -> bool:
    schema = _schema()
    attributes = schema.raw["classes"][class_name]["attributes"]
    parts = name.split(".")
    for index, part in enumerate(parts):
        spec = schema.attribute(attributes, part, declared)
        if spec is None:
            return False
        if index == len(parts) - 1:
            return True
        object_type = spec.get("object_type")
        if spec.get("type") != "object_t" or object_type not in schema.objects:
            return False
        attributes = schema.objects[object_type]["attributes"]
    return False


@cache
def _caption_spec(kind: str, name: str) -> tuple[tuple[tuple[str, str, dict[Any, str], bool], ...], dict[str, str]]:
    """For a class or object: its (id attribute, sibling, captions, is array) enums and its object attributes."""
    schema = _schema()
    spec = schema.raw["classes"][name] if kind == "class" else schema.objects[name]
    pairs = []
    children = {}
    for attribute, details in spec["attributes"].items():
        if details.get("sibling") and details.get("enum"):
            captions = {
                int(key) if key.lstrip("-").isdigit() else key: value["caption"]
                for key, value in details["enum"].items()
            }
            pairs.append((attribute, details["sibling"], captions, bool(details.get("is_array"))))
        if details.get("type") == "object_t" and details.get("object_type") in schema.objects:
            children[attribute] = details["object_type"]
    return tuple(pairs), children


def _caption_errors(node: dict[str, Any], kind: str, name: str, path: str, errors: list[str]) -> None:
    pairs, children = _caption_spec(kind, name)
    for attribute, sibling, captions, is_array in pairs:
        value, shown = node.get(attribute), node.get(sibling)
        if value is None or shown is None:
            continue
        if is_array:
            if type(value) is list and type(shown) is list:
                for index, (one, text) in enumerate(zip(value, shown)):
                    if one != 99 and one in captions and type(one) is not bool and text != captions[one]:
                        errors.append(
                            f"{path}{sibling}[{index}]: {text!r} is not the caption {captions[one]!r} of {one}"
                        )
        elif value != 99 and type(value) is int and value in captions and shown != captions[value]:
            errors.append(f"{path}{sibling}: {shown!r} is not the caption {captions[value]!r} of {attribute}={value}")
    for attribute, object_name in children.items():
        child = node.get(attribute)
        if type(child) is dict:
            _caption_errors(child, "object", object_name, f"{path}{attribute}.", errors)
        elif type(child) is list:
            for index, item in enumerate(child):
                if type(item) is dict:
                    _caption_errors(item, "object", object_name, f"{path}{attribute}[{index}].", errors)


#: long_t, OCSF's widest integer type (timestamps, sizes, byte counts); JSON Schema's ``integer`` has no bound.
_LONG_MIN, _LONG_MAX = -(2**127), 2**127 - 1


def _range_errors(node: dict[str, Any] | list[Any], path: str, errors: list[str]) -> None:
    """Integers no OCSF integer type holds, anywhere below ``node``."""
    for key, value in node.items() if type(node) is dict else enumerate(node):  # type: ignore[union-attr]
        where = f"{path}.{key}" if type(node) is dict and path else f"{path}[{key}]" if path else str(key)
        if type(value) is int and not _LONG_MIN <= value <= _LONG_MAX:
            errors.append(f"{where}: {value} is beyond OCSF long_t (128 bits)")
        elif type(value) is dict or type(value) is list:
            _range_errors(value, where, errors)


def validate_event(event: Any, *, thorough: bool = False) -> list[str]:
    """Every reason ``event`` is not a valid OCSF 1.5.0 event of a class this provider emits (empty if valid).

    ``thorough`` runs jsonschema even when the compiled check passes the event.
    """
    if not isinstance(event, dict):
        return [f"<event>: an OCSF event must be a JSON object, got {type(event).__name__}"]
    class_uid = event.get("class_uid")
    if type(class_uid) is not int or class_uid not in CLASSES:
        return [f"class_uid: {class_uid!r} is not one of this provider's classes {sorted(CLASSES)}"]
    class_name = CLASSES[class_uid].schema
    schema = _schema()
    errors: list[str] = []

    metadata = event.get("metadata")
    declared: frozenset[str] = frozenset()
    if isinstance(metadata, dict):
        version = metadata.get("version")
        if version != OCSF_VERSION:
            errors.append(f"metadata.version: must be {OCSF_VERSION!r}, got {version!r}")
        profiles = metadata.get("profiles")
        if isinstance(profiles, list):
            applicable = schema.raw["classes"][class_name]["profiles"]
            names = [p for p in profiles if isinstance(p, str)]
            for index, profile in enumerate(profiles):
                if not isinstance(profile, str):
                    continue
                if profile not in schema.profiles:
                    errors.append(f"metadata.profiles[{index}]: {profile!r} is not an OCSF {OCSF_VERSION} profile")
                elif profile not in applicable:
                    errors.append(f"metadata.profiles[{index}]: profile {profile!r} does not apply to {class_name}")
            if len(set(names)) != len(names):
                errors.append("metadata.profiles: lists a profile more than once")
            declared = frozenset(p for p in names if p in schema.profiles)

    activity_id, type_uid = event.get("activity_id"), event.get("type_uid")
    if type(activity_id) is int and type(type_uid) is int and type_uid != class_uid * 100 + activity_id:
        errors.append(
            f"type_uid: {type_uid} != class_uid {class_uid} * 100 + activity_id {activity_id}"
            f" = {class_uid * 100 + activity_id}"
        )

    observables = event.get("observables")
    if isinstance(observables, list):
        for index, observable in enumerate(observables):
            name = observable.get("name") if isinstance(observable, dict) else None
            if isinstance(name, str) and not _observable_resolves(name, class_name, declared):
                errors.append(f"observables[{index}].name: {name!r} is not an attribute path of {class_name}")

    try:
        _caption_errors(event, "class", class_name, "", errors)
        _range_errors({key: value for key, value in event.items() if key != "unmapped"}, "", errors)
    except RecursionError:
        errors.append("<event>: objects nested too deeply to validate")
    if thorough or not _fast(class_name, declared)(event):
        errors.extend(_describe(error) for error in _compiled(class_name, declared).iter_errors(event))
    return errors


@dataclass
class ValidationReport:
    """Totals of a validated stream of NDJSON lines, with the first problems for the reader."""

    events: int = 0
    invalid: int = 0
    per_class: dict[int, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.invalid == 0


def validate_lines(lines: Iterable[bytes | str], *, max_problems: int = 50) -> ValidationReport:
    """Validate NDJSON OCSF events (blank lines skipped); unparsable lines count as invalid."""
    report = ValidationReport()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        report.events += 1
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            errors = [f"<line>: not JSON ({exc})"]
        else:
            errors = validate_event(event)
            if isinstance(event, dict) and type(event.get("class_uid")) is int:
                report.per_class[event["class_uid"]] = report.per_class.get(event["class_uid"], 0) + 1
        if errors:
            report.invalid += 1
            room = max_problems - len(report.problems)
            report.problems.extend(f"line {number}: {message}" for message in errors[: max(room, 0)])
    return report
