"""LineDecoder: the same lines whatever the chunking; over-long lines never buffered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from acp_bridge.jsonrpc.framing import LineDecoder, LineTooLong

STREAM = b'{"a":1}\n{"b":"\xc3\xa9"}\r\n\n{"c":[1,2,3]}\nlast'


def decode_in_chunks(data: bytes, cuts: list[int], limit: int = 1000) -> list[bytes | LineTooLong]:
    decoder = LineDecoder(max_line_bytes=limit)
    out: list[bytes | LineTooLong] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        out += decoder.feed(data[start:cut])
        start = cut
    tail = decoder.eof()
    if tail is not None:
        out.append(tail)
    return out


EXPECTED = [b'{"a":1}', b'{"b":"\xc3\xa9"}', b"", b'{"c":[1,2,3]}', b"last"]


def test_every_single_split_offset_gives_the_same_lines() -> None:
    for cut in range(len(STREAM) + 1):
        assert decode_in_chunks(STREAM, [cut]) == EXPECTED, cut


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=8))
def test_any_chunking_gives_the_same_lines(cuts: list[int]) -> None:
    assert decode_in_chunks(STREAM, cuts) == EXPECTED


def test_byte_by_byte() -> None:
    assert decode_in_chunks(STREAM, list(range(len(STREAM)))) == EXPECTED


def test_overlong_line_is_reported_and_skipped_not_held() -> None:
    decoder = LineDecoder(max_line_bytes=10)
    out = decoder.feed(b"short\n" + b"x" * 50)
    assert out == [b"short"]
    assert decoder.pending == 0
    out = decoder.feed(b"y" * 50)
    assert out == []
    assert decoder.pending == 0
    out = decoder.feed(b"zz\nok\n")
    assert out == [LineTooLong(length=102, head=b"x" * 50 + b"y" * 50 + b"zz"), b"ok"]


def test_a_skipped_line_is_reported_the_same_however_it_arrived() -> None:
    """Found by tests/fuzz: the head (and a CRLF's length) depended on the chunking."""
    assert decode_in_chunks(b"\x00" * 4, [3], limit=1) == [LineTooLong(4, b"\x00" * 4)]
    for cuts in ([], [3], [4], [1, 2, 3, 4]):
        assert decode_in_chunks(b"abc\r\nok\n", cuts, limit=2) == [LineTooLong(3, b"abc"), b"ok"]


def test_overlong_line_inside_one_chunk() -> None:
    decoder = LineDecoder(max_line_bytes=4)
    assert decoder.feed(b"abcdefgh\nab\n") == [LineTooLong(8, b"abcdefgh"), b"ab"]


def test_overlong_unterminated_tail_at_eof() -> None:
    decoder = LineDecoder(max_line_bytes=4)
    decoder.feed(b"123456789")
    assert decoder.eof() == LineTooLong(9, b"123456789")


def test_line_exactly_at_the_limit_with_crlf_is_accepted() -> None:
    decoder = LineDecoder(max_line_bytes=4)
    assert decoder.feed(b"abcd\r") == []
    assert decoder.feed(b"\n") == [b"abcd"]


def test_an_unterminated_tail_one_byte_over_the_limit_is_too_long_at_eof() -> None:
    """Found by tests/fuzz: one byte over is held for a CR that may follow, then never came."""
    decoder = LineDecoder(max_line_bytes=1)
    assert decoder.feed(b"\x00\x00") == []
    assert decoder.eof() == LineTooLong(2, b"\x00\x00")
