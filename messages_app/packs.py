"""The pack format: old versions of messages, compressed and delta-encoded, many to a file.

A pack is ``MAGIC`` followed by records. Each record holds one version of one message:

    kind (1 byte) | base (1 byte) | text length (varint) | payload length (varint) | payload

``FULL`` is the text compressed with zstd; ``DELTA`` is the text compressed with an earlier
record's text as zstd's dictionary (so what the two share costs almost nothing); ``SAME`` has
no payload and is the text of the record ``base`` (a revert, or an edit of the subject alone).
``base`` counts records from the start of the record's segment.

One message's versions are written in segments: a segment starts with a ``FULL`` record and
every later record refers only to records before it in the same segment. A version is read
from the start of its segment to the end of its own record: one contiguous range, so one
ranged GET on S3 or one seek and read on disk. Segments hold at most ``SEGMENT_RECORDS``
records and about ``SEGMENT_BYTES`` bytes, so reading any version decodes a bounded amount
whatever the length of the message's history.
"""

import hashlib
from dataclasses import dataclass

import zstandard

MAGIC = b"MBPACK1\n"
FULL, DELTA, SAME = 0, 1, 2
SEGMENT_RECORDS = 16
SEGMENT_BYTES = 1 << 20
# No version longer than this is packed (bodies are 256 KiB by default; an import or an older
# limit may have left longer ones), and a record claiming more is damage.
MAX_TEXT_BYTES = 16 << 20
# What one range may decode to in all: a segment starts anew before its texts pass this, so
# a damaged range never makes decoding allocate more, whatever its bytes claim.
SEGMENT_TEXT_BYTES = 2 * MAX_TEXT_BYTES
# Level 12 compresses bodies of a few KiB as small as 19 does, at a fifth of the time on large ones.
LEVEL = 12
# A delta that saves less than this share of the text is not worth its dependency: a full record
# starts a new segment instead.
DELTA_PAYS_BELOW = 0.5


def _parameters(source_size: int, dict_size: int = 0) -> zstandard.ZstdCompressionParameters:
    # Sized to the text and its base: the level's defaults are tables of tens of MiB, allocated
    # for every record of a few KiB.
    return zstandard.ZstdCompressionParameters.from_level(
        LEVEL,
        source_size=max(source_size, 1),
        dict_size=dict_size,
        format=zstandard.FORMAT_ZSTD1_MAGICLESS,
        write_content_size=0,
        write_checksum=0,
        write_dict_id=0,
    )


class PackDamaged(OSError):
    """A packed version cannot be decoded into the text its checksum names."""


@dataclass(frozen=True, slots=True)
class PackedRange:
    """Where a version lies in a pack: from its segment's start to the end of its own record."""

    offset: int
    length: int


class PackBuilder:
    """Build one pack in memory, a version at a time, each message's versions oldest first."""

    def __init__(self) -> None:
        self._buffer = bytearray(MAGIC)
        self._message_id: int | None = None
        self._segment_start = 0
        self._segment_texts: list[bytes] = []
        self._segment_text_bytes = 0
        self._segment_hashes: dict[str, int] = {}
        self.versions = 0

    @property
    def size(self) -> int:
        return len(self._buffer)

    def data(self) -> bytes:
        return bytes(self._buffer)

    def add(self, message_id: int, text: bytes, sha256: str) -> PackedRange:
        """Append a version; ``sha256`` must be its text's, and the written record is checked against it.

        Raises PackDamaged when the record does not decode to ``sha256`` (a text not matching
        its checksum, or a fault of the encoder): nothing is added then.
        """
        if len(text) > MAX_TEXT_BYTES:
            raise ValueError(f"a version of {len(text)} bytes is over the {MAX_TEXT_BYTES} a pack holds")
        if hashlib.sha256(text).hexdigest() != sha256:
            raise PackDamaged(f"message {message_id}: the version's text does not match its sha256 {sha256}")
        if (
            message_id != self._message_id
            or len(self._segment_texts) >= SEGMENT_RECORDS
            or len(self._buffer) - self._segment_start >= SEGMENT_BYTES
            or self._segment_text_bytes + len(text) > SEGMENT_TEXT_BYTES
        ):
            self._start_segment(message_id)
        record_start = len(self._buffer)
        try:
            kind, base, payload = self._encode(text, sha256)
        except zstandard.ZstdError as error:
            raise PackDamaged(f"message {message_id}: the version could not be compressed: {error}") from None
        if kind == FULL and self._segment_texts:
            # A full record depends on nothing: starting a segment with it keeps later reads short.
            self._start_segment(message_id)
            record_start = len(self._buffer)
        self._buffer += bytes((kind, base)) + _varint(len(text)) + _varint(len(payload)) + payload
        packed = PackedRange(self._segment_start, len(self._buffer) - self._segment_start)
        # The record as written, decoded as a reader decodes it, from the segment's texts already
        # checked: each record is decoded once here, not once for every later record of its segment.
        try:
            decoded, end = _record_decode(self._buffer, record_start, self._segment_texts)
        except PackDamaged:
            decoded, end = b"", -1
        if end != len(self._buffer) or hashlib.sha256(decoded).hexdigest() != sha256:
            del self._buffer[record_start:]
            raise PackDamaged(f"message {message_id}: the record written does not decode to sha256 {sha256}")
        self._segment_hashes.setdefault(sha256, len(self._segment_texts))
        self._segment_texts.append(text)
        self._segment_text_bytes += len(text)
        self.versions += 1
        return packed

    def _start_segment(self, message_id: int) -> None:
        self._message_id = message_id
        self._segment_start = len(self._buffer)
        self._segment_texts = []
        self._segment_text_bytes = 0
        self._segment_hashes = {}

    def _encode(self, text: bytes, sha256: str) -> tuple[int, int, bytes]:
        same = self._segment_hashes.get(sha256)
        if same is not None:
            return SAME, same, b""
        if not self._segment_texts:
            return FULL, 0, _compress(text)
        base = len(self._segment_texts) - 1
        delta = _compress(text, self._segment_texts[base])
        if len(delta) < len(text) * DELTA_PAYS_BELOW:
            return DELTA, base, delta
        full = _compress(text)
        return (DELTA, base, delta) if len(delta) < len(full) else (FULL, 0, full)


def version_decode(data: bytes) -> bytes:
    """Return the text of the last record in ``data``, a range that starts at a segment's start.

    Raises PackDamaged for anything that is not such a range: bounded work and memory whatever
    the bytes (at most SEGMENT_RECORDS records and SEGMENT_TEXT_BYTES of text are decoded).
    """
    texts: list[bytes] = []
    position = decoded_bytes = 0
    while position < len(data):
        if len(texts) >= SEGMENT_RECORDS:
            raise PackDamaged("the range claims more records or text than a segment holds")
        text, position = _record_decode(data, position, texts, text_budget=SEGMENT_TEXT_BYTES - decoded_bytes)
        decoded_bytes += len(text)
        texts.append(text)
    if not texts:
        raise PackDamaged("the range holds no record")
    return texts[-1]


def _record_decode(
    data: bytes | bytearray, position: int, texts: list[bytes], text_budget: int = MAX_TEXT_BYTES
) -> tuple[bytes, int]:
    """Decode the record at ``position``, whose segment's earlier texts are ``texts``; return its text and end.

    A record claiming more than ``text_budget`` bytes (or than a pack holds) is damage, found
    before anything is decompressed.
    """
    try:
        kind, base = data[position], data[position + 1]
        text_length, position = _read_varint(data, position + 2)
        payload_length, position = _read_varint(data, position)
        payload = bytes(data[position : position + payload_length])
        position += payload_length
        if len(payload) != payload_length:
            raise PackDamaged("a record runs past the end of the range read")
        if text_length > min(MAX_TEXT_BYTES, text_budget):
            raise PackDamaged("the range claims more records or text than a segment holds")
        if kind in (FULL, DELTA) and text_length == 0:
            text = b""  # zstd cannot be told to expect nothing
        elif kind == FULL:
            text = _decompress(payload, None, text_length)
        elif kind in (DELTA, SAME) and base < len(texts):
            text = texts[base] if kind == SAME else _decompress(payload, texts[base], text_length)
        else:
            raise PackDamaged(f"a record of kind {kind} refers to record {base} of {len(texts)}")
    except (IndexError, zstandard.ZstdError) as error:
        raise PackDamaged(f"the range does not decode: {error}") from None
    if len(text) != text_length:
        raise PackDamaged("a record decodes to another length than it says")
    return text, position


def _compress(text: bytes, base: bytes | None = None) -> bytes:
    if base is None:
        return zstandard.ZstdCompressor(compression_params=_parameters(len(text))).compress(text)
    dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    parameters = _parameters(len(text), len(base))
    return zstandard.ZstdCompressor(compression_params=parameters, dict_data=dictionary).compress(text)


def _decompress(payload: bytes, base: bytes | None, text_length: int) -> bytes:
    # python-zstandard sizes its output by the content size a frame's header declares, whatever
    # max_output_size says: a damaged header could ask for terabytes. Packs never write one.
    if zstandard.get_frame_parameters(payload, format=zstandard.FORMAT_ZSTD1_MAGICLESS).content_size != (
        zstandard.CONTENTSIZE_UNKNOWN
    ):
        raise PackDamaged("a record's frame declares a size, which no pack writes")
    return _decompressor_with(base).decompress(payload, max_output_size=text_length)


def _decompressor_with(base: bytes | None) -> zstandard.ZstdDecompressor:
    if base is None:
        return zstandard.ZstdDecompressor(format=zstandard.FORMAT_ZSTD1_MAGICLESS)
    dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    return zstandard.ZstdDecompressor(dict_data=dictionary, format=zstandard.FORMAT_ZSTD1_MAGICLESS)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
        if shift > 35:
            raise PackDamaged("a length field is too long")
