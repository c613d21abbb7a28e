"""DRF's JSON output, encoded by orjson: the same bytes as DRF's ``JSONRenderer``.

orjson writes compact UTF-8 JSON; whatever it does not encode the way DRF does (times,
dates, decimals, lazy translation strings, sets, …) goes through DRF's own encoder, and
U+2028/U+2029 are escaped as DRF escapes them (tests/core/test_renderers.py pins the
bytes). A view whose output holds times only as UTC datetimes or as text (the list
pages written by ``core.serialization.api_datetime_writer``) says so with
``output_times_are_utc = True``: orjson then writes those times itself, as DRF's encoder
does (``2026-12-03T09:00:00Z``, microseconds when there are any). Elsewhere every time
goes to DRF's encoder: orjson would round an offset of seconds (+00:09:21, a historical
zone's) to minutes.

A pretty-printing request (``Accept: application/json; indent=4``), or a value orjson
refuses (an integer past 64 bits), is rendered by DRF itself. What it buys:
docs/performance.md ("What the performance layer buys").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_UTC_TIMES_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_LINE_SEPARATOR, _PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()


class FastJSONRenderer(JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type or "", renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        view = (renderer_context or {}).get("view")
        options = _UTC_TIMES_OPTIONS if getattr(view, "output_times_are_utc", False) else _OPTIONS
        try:
            body = orjson.dumps(data, default=JSONEncoder().default, option=options)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if _LINE_SEPARATOR in body or _PARAGRAPH_SEPARATOR in body:
            body = body.replace(_LINE_SEPARATOR, b"\\u2028").replace(
                _PARAGRAPH_SEPARATOR, b"\\u2029"
            )
        return body
