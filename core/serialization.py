"""JSON for stored records (audit rows, outbox payloads, job results)."""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


class ExactJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder, but times keep their microseconds (it cuts them to ms)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types: exactly what the database will give back."""
    return json.loads(json.dumps(value, cls=ExactJSONEncoder))
