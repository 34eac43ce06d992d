"""JSON-lines input with errors that name the file and the line."""

import json
from typing import Iterator, Tuple, Type


def read_json_objects(path, error: Type[Exception] = ValueError) -> Iterator[Tuple[str, int, dict]]:
    """Yield ``(where, line_number, object)`` for every non-blank line of ``path``, where
    ``where`` is ``"path:line"``; invalid JSON or a non-object raises ``error(where: ...)``."""
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            try:
                value = json.loads(line)
            except json.JSONDecodeError as decode_error:
                raise error(f"{where}: invalid JSON: {decode_error}") from None
            if not isinstance(value, dict):
                raise error(f"{where}: expected a JSON object, got {type(value).__name__}")
            yield where, line_number, value
