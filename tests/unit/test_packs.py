"""The pack format: every version decodes byte for byte from its own range, deltas pay, damage is refused."""

import hashlib
import random
import resource
import struct

import pytest

from messages_app import packs


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decoded(builder: packs.PackBuilder, packed: packs.PackedRange) -> bytes:
    return packs.version_decode(builder.data()[packed.offset : packed.offset + packed.length])


def edits_of(text: bytes, count: int, seed: int = 0) -> list[bytes]:
    chooser = random.Random(seed)
    versions = [text]
    for number in range(count - 1):
        words = versions[-1].split(b" ")
        words.insert(chooser.randrange(len(words)), f"edit{number}".encode())
        versions.append(b" ".join(words))
    return versions


PROSE = b" ".join(f"word{n % 97} and some more text {n}".encode() for n in range(300)) + b"\n"


def test_every_version_of_several_messages_decodes_from_its_own_range():
    builder = packs.PackBuilder()
    placed = []
    for message_id in (3, 4, 9):
        for text in edits_of(PROSE + str(message_id).encode(), 12, seed=message_id):
            placed.append((text, builder.add(message_id, text, sha(text))))
    assert builder.data().startswith(packs.MAGIC)
    assert builder.versions == 36
    for text, packed in placed:
        assert decoded(builder, packed) == text


def test_an_edit_is_stored_as_a_delta_far_smaller_than_the_text():
    builder = packs.PackBuilder()
    first, second = edits_of(PROSE, 2)
    builder.add(1, first, sha(first))
    size_before = builder.size
    builder.add(1, second, sha(second))
    assert builder.size - size_before < 40 < len(second) // 100


def test_a_revert_to_an_earlier_text_costs_a_record_header_only():
    builder = packs.PackBuilder()
    first, second = edits_of(PROSE, 2)
    for text in (first, second):
        builder.add(1, text, sha(text))
    size_before = builder.size
    reverted = builder.add(1, first, sha(first))
    assert builder.size - size_before <= 6
    assert builder.data()[size_before] == packs.SAME
    assert decoded(builder, reverted) == first


def test_a_subject_only_edit_keeps_the_same_body_for_almost_nothing():
    builder = packs.PackBuilder()
    builder.add(1, PROSE, sha(PROSE))
    size_before = builder.size
    again = builder.add(1, PROSE, sha(PROSE))
    assert builder.size - size_before <= 6
    assert decoded(builder, again) == PROSE


def test_unrelated_texts_of_one_message_are_stored_whole_and_start_a_new_segment():
    builder = packs.PackBuilder()
    first = random.Random(1).randbytes(3000)
    second = random.Random(2).randbytes(3000)
    builder.add(1, first, sha(first))
    packed = builder.add(1, second, sha(second))
    assert builder.data()[packed.offset] == packs.FULL
    assert decoded(builder, packed) == second


def test_a_long_history_reads_a_bounded_range_whatever_its_length():
    builder = packs.PackBuilder()
    ranges = [builder.add(1, text, sha(text)) for text in edits_of(PROSE, 200)]
    # A segment never holds more than SEGMENT_RECORDS records, so no read decodes more.
    starts = {packed.offset for packed in ranges}
    assert len(starts) >= 200 // packs.SEGMENT_RECORDS
    assert max(packed.length for packed in ranges) < 2 * len(PROSE)


def test_versions_of_the_next_message_never_refer_to_another_message():
    builder = packs.PackBuilder()
    builder.add(1, PROSE, sha(PROSE))
    packed = builder.add(2, PROSE, sha(PROSE))
    # Its range starts with its own full record: it can be read without message 1's bytes.
    assert builder.data()[packed.offset] == packs.FULL
    assert decoded(builder, packed) == PROSE


def test_a_text_that_does_not_match_its_checksum_is_refused_and_nothing_is_added():
    builder = packs.PackBuilder()
    builder.add(1, PROSE, sha(PROSE))
    size_before = builder.size
    with pytest.raises(packs.PackDamaged):
        builder.add(1, PROSE + b"x", sha(PROSE))
    assert builder.size == size_before
    assert builder.versions == 1


def test_a_record_the_encoder_got_wrong_is_refused_and_the_segment_goes_on_intact(monkeypatch):
    versions = edits_of(PROSE, 3)
    builder = packs.PackBuilder()
    first = builder.add(1, versions[0], sha(versions[0]))
    size_before = builder.size
    real_compress = packs._compress

    def faulty_compress(text, base=None):
        # A delta against another base than the record names: its matches point a byte off.
        return real_compress(text, base=versions[0] + b"?")

    monkeypatch.setattr(packs, "_compress", faulty_compress)
    with pytest.raises(packs.PackDamaged, match="does not decode"):
        builder.add(1, versions[1], sha(versions[1]))
    assert (builder.size, builder.versions) == (size_before, 1)

    monkeypatch.setattr(packs, "_compress", real_compress)
    later = builder.add(1, versions[2], sha(versions[2]))
    assert decoded(builder, later) == versions[2]
    assert decoded(builder, first) == versions[0]
    assert later.offset == first.offset, "the later version stays a delta in the same segment"


def test_an_empty_text_round_trips():
    builder = packs.PackBuilder()
    assert decoded(builder, builder.add(1, b"", sha(b""))) == b""


def damaged_ranges() -> list[tuple[str, bytes]]:
    builder = packs.PackBuilder()
    texts = edits_of(PROSE, 3)
    last = None
    for text in texts:
        last = builder.add(1, text, sha(text))
    good = builder.data()[last.offset : last.offset + last.length]
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x40
    return [
        ("empty", b""),
        ("truncated", good[:-3]),
        ("flipped byte", bytes(flipped)),
        ("unknown kind", bytes([7, 0, 1, 1, 0])),
        ("delta without a base", bytes([packs.DELTA, 0, 1, 1, 0])),
        ("length beyond the limit", bytes([packs.FULL, 0]) + b"\xff\xff\xff\xff\x7f" + b"\x01\x00"),
        ("endless length field", bytes([packs.FULL, 0]) + b"\xff" * 40),
        ("garbage", random.Random(3).randbytes(500)),
    ]


@pytest.mark.parametrize(("damage", "data"), damaged_ranges(), ids=[name for name, _ in damaged_ranges()])
def test_a_damaged_range_raises_pack_damaged_never_another_error(damage, data):
    try:
        text = packs.version_decode(data)
    except packs.PackDamaged:
        return
    # A flipped byte inside compressed text may still decode: the sha256 check catches it.
    assert damage == "flipped byte"
    assert sha(text) != sha(edits_of(PROSE, 3)[-1])


def test_a_range_of_records_claiming_huge_texts_is_refused_before_they_are_decoded():
    zeros = packs._compress(bytes(15 << 20))
    record = bytes((packs.FULL, 0)) + packs._varint(15 << 20) + packs._varint(len(zeros)) + zeros
    with pytest.raises(packs.PackDamaged, match="more records or text than a segment holds"):
        packs.version_decode(record * 20)


@pytest.mark.parametrize("declared", [10, 1 << 30, 1 << 45])
def test_a_frame_declaring_its_own_size_is_refused_before_any_output_is_allocated(declared):
    # zstd's header: a single-segment frame with an 8-byte content size, then one raw block of 10 bytes.
    frame = bytes([0xE0]) + struct.pack("<Q", declared) + bytes([0x51, 0, 0]) + b"x" * 10
    record = bytes((packs.FULL, 0)) + packs._varint(10) + packs._varint(len(frame)) + frame
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(packs.PackDamaged, match="declares a size"):
        packs.version_decode(record)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 64 * 1024  # KiB


def test_a_range_of_garbage_after_a_record_header_is_pack_damaged():
    for seed in range(200):
        garbage = random.Random(seed).randbytes(40)
        record = bytes((packs.FULL, 0)) + packs._varint(30) + packs._varint(len(garbage)) + garbage
        with pytest.raises(packs.PackDamaged):
            packs.version_decode(record)


def test_a_range_of_more_records_than_a_segment_holds_is_refused():
    record = bytes((packs.SAME, 0)) + packs._varint(0) + packs._varint(0)
    first = bytes((packs.FULL, 0)) + packs._varint(0) + packs._varint(0)
    with pytest.raises(packs.PackDamaged, match="more records"):
        packs.version_decode(first + record * packs.SEGMENT_RECORDS)
    assert packs.version_decode(first + record * (packs.SEGMENT_RECORDS - 1)) == b""
