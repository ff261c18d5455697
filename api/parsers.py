"""JSON bodies whose numbers with a fraction are read exactly as written."""

import codecs
from decimal import Decimal
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json


class ExactJSONParser(JSONParser):
    """DRF's JSON parser, but ``12500.10`` arrives as ``Decimal("12500.10")`` rather than a binary
    float, which holds about 15 digits and not 0.1 exactly: an amount sent as a JSON number is
    kept as written, or refused as its text would be. Whole numbers stay ``int``.

    For bodies whose fields all check their JSON types (the lead endpoints): a field that takes
    any JSON value would receive a Decimal.
    """

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: dict | None = None) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            decoded_stream = codecs.getreader(encoding)(stream)
            return json.load(decoded_stream, parse_float=Decimal)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
