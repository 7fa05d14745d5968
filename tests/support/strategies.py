"""Hypothesis strategies that build JSON values valid against a JSON Schema subset.

Covers what pydantic emits for the AgentEvent models: objects (properties, required,
additionalProperties), anyOf/oneOf, $ref, const, arrays and scalar types (with
``minLength`` and ``minimum``). Optional
properties are either omitted, null (where allowed) or present, mirroring Harn's rule
that readers see both shapes.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=8), children, max_size=3),
    ),
    max_leaves=8,
)


def from_schema(schema: dict[str, Any], root: dict[str, Any], depth: int = 0) -> Any:
    """A strategy for values valid against ``schema`` (``$ref`` resolved in ``root``)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return from_schema(root["$defs"][name], root, depth + 1)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return st.one_of([from_schema(s, root, depth + 1) for s in schema[key]])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return _object(schema, root, depth)
    if kind == "array":
        items = schema.get("items")
        inner = from_schema(items, root, depth + 1) if items else JSON_VALUES
        return st.lists(inner, max_size=0 if depth > 6 else 3)
    simple = {
        "string": st.text(min_size=schema.get("minLength", 0), max_size=30),
        "integer": st.integers(min_value=schema.get("minimum", -(2**53)), max_value=2**53),
        "number": st.floats(allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
        "null": st.none(),
    }
    if isinstance(kind, str) and kind in simple:
        return simple[kind]
    return JSON_VALUES


def _object(schema: dict[str, Any], root: dict[str, Any], depth: int) -> Any:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, sub in properties.items():
            if name not in required and draw(st.booleans()):
                continue
            out[name] = draw(from_schema(sub, root, depth + 1))
        if schema.get("additionalProperties", False) is True and depth < 4:
            extras = draw(
                st.dictionaries(
                    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
                    .map(lambda k: "x_" + k)
                    .filter(lambda k: k not in properties),
                    JSON_VALUES,
                    max_size=2,
                )
            )
            out.update(extras)
        return out

    return build()
