"""
JSON through the json package's C accelerator alone. `import json` imports re and enum (~8 ms at
start-up); `_json` costs a fraction of a millisecond. Any surprise (another Python, no _json)
falls back to the json package.
"""
try:
    import _json

    class _Decoding:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__
        memo = {}

    _scan = _json.make_scanner(_Decoding())

    def _default(o):
        raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)

    _encode = _json.make_encoder(None, _default, _json.encode_basestring_ascii, None, ":", ",", False, False, True)

    def loads(text):
        if isinstance(text, (bytes, bytearray)):
            text = text.decode("utf-8")
        start = len(text) - len(text.lstrip())
        try:
            value, end = _scan(text, start)
        except StopIteration as e:
            raise ValueError("invalid JSON at character %s" % e.value) from None
        if text[end:].strip():
            raise ValueError("extra data after JSON at character %d" % end)
        return value

    def dumps(value):
        return "".join(_encode(value, 0))

    if loads(dumps({"a": [1, 2.5, "é", None, True]})) != {"a": [1, 2.5, "é", None, True]}:
        raise ImportError("the _json accelerator does not behave as expected")
except Exception:  # pragma: no cover - depends on the interpreter
    from json import loads  # noqa: F401

    def dumps(value):
        import json

        return json.dumps(value, separators=(",", ":"))
