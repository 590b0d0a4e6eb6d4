"""A baseline JPEG of flat 8x8 blocks, so emulated Telegram photos are real JPEG files without an imaging library.

Every 8x8 block is one colour, so only its DC coefficient is non-zero: each block is a DC difference and an
end-of-block code. That is all an identicon-like avatar needs, and any decoder reads it as an ordinary baseline
JPEG (4:4:4 YCbCr, one quantisation table, the standard DC Huffman table, a one-symbol AC table).
"""

from collections.abc import Callable

RGB = tuple[int, int, int]

# Annex K.3 of the JPEG standard: luminance DC code lengths, categories 0..11.
_DC_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES = tuple(range(12))
# A block's AC coefficients are all zero, so the only AC symbol is end-of-block (0x00), one bit long.
_AC_BITS = (1,) + (0,) * 15
_AC_VALUES = (0x00,)
# The DC quantiser is 8, so a flat block of value v quantises to exactly v - 128 (its DC coefficient is 8(v-128)).
_DC_QUANT = 8


def _huffman_codes(bits: tuple[int, ...], values: tuple[int, ...]) -> dict[int, tuple[int, int]]:
    """Canonical codes (Annex C): symbol -> (code, length)."""
    codes, code, symbols = {}, 0, iter(values)
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[next(symbols)] = (code, length)
            code += 1
        code <<= 1
    return codes


_DC_CODES = _huffman_codes(_DC_BITS, _DC_VALUES)
_EOB = _huffman_codes(_AC_BITS, _AC_VALUES)[0x00]


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._n = 0

    def write(self, value: int, length: int) -> None:
        self._acc = (self._acc << length) | (value & ((1 << length) - 1))
        self._n += length
        while self._n >= 8:
            self._n -= 8
            byte = (self._acc >> self._n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:  # byte stuffing: a 0xFF in entropy-coded data is followed by 0x00
                self.out.append(0x00)
        self._acc &= (1 << self._n) - 1

    def flush(self) -> bytes:
        if self._n:
            self.write((1 << (8 - self._n)) - 1, 8 - self._n)  # pad with one-bits
        return bytes(self.out)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def _ycbcr(rgb: RGB) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return tuple(max(0, min(255, round(c))) for c in (y, cb, cr))  # type: ignore[return-value]


def _block_code(previous: tuple[int, int, int], colour: RGB) -> tuple[int, int, tuple[int, int, int]]:
    """One flat block's entropy-coded bits (each component's DC difference and end-of-block) as (value, length),
    and the DC values the next block is coded against."""
    value, length = 0, 0

    def put(code: int, n: int) -> None:
        nonlocal value, length
        value, length = (value << n) | (code & ((1 << n) - 1)), length + n

    dcs = tuple(v - 128 for v in _ycbcr(colour))
    for dc, before in zip(dcs, previous, strict=True):
        diff = dc - before
        category = abs(diff).bit_length()
        put(*_DC_CODES[category])
        if category:
            put(diff if diff > 0 else diff - 1, category)
        put(*_EOB)
    return value, length, dcs  # type: ignore[return-value]


def encode(width_blocks: int, height_blocks: int, colour_of: Callable[[int, int], RGB]) -> bytes:
    """A JPEG of `width_blocks` x `height_blocks` flat 8x8 blocks; `colour_of(bx, by)` colours each block."""
    if not (1 <= width_blocks <= 8191 and 1 <= height_blocks <= 8191):
        raise ValueError("a JPEG side is 1..65535 pixels")
    width, height = width_blocks * 8, height_blocks * 8
    quant = bytes((0x00, _DC_QUANT)) + bytes([1] * 63)
    frame = bytes((8,)) + height.to_bytes(2, "big") + width.to_bytes(2, "big") + bytes((3,))
    frame += b"".join(bytes((component, 0x11, 0)) for component in (1, 2, 3))
    dc_table = bytes((0x00,)) + bytes(_DC_BITS) + bytes(_DC_VALUES)
    ac_table = bytes((0x10,)) + bytes(_AC_BITS) + bytes(_AC_VALUES)
    scan = bytes((3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0))

    bits = _BitWriter()
    previous = (0, 0, 0)
    # An avatar is a few colours in repeating rows, and a block's code depends only on its colour and the one
    # before it: a row is coded once per (colours, block before it) and written whole, so a 640x640 photo costs
    # milliseconds, not most of a second of an emulator that shares the machine with what it serves.
    blocks: dict[tuple[tuple[int, int, int], RGB], tuple[int, int, tuple[int, int, int]]] = {}
    rows: dict[tuple[tuple[int, int, int], tuple[RGB, ...]], tuple[int, int, tuple[int, int, int]]] = {}
    for by in range(height_blocks):
        colours = tuple(colour_of(bx, by) for bx in range(width_blocks))
        row = rows.get((previous, colours))
        if row is None:
            start, value, length = previous, 0, 0
            for colour in colours:
                block = blocks.get((previous, colour))
                if block is None:
                    block = blocks[(previous, colour)] = _block_code(previous, colour)
                value, length, previous = (value << block[1]) | block[0], length + block[1], block[2]
            row = rows[(start, colours)] = (value, length, previous)
        value, length, previous = row
        bits.write(value, length)
    data = bits.flush()
    return b"".join(
        (
            b"\xff\xd8",
            _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            _segment(0xDB, quant),
            _segment(0xC0, frame),
            _segment(0xC4, dc_table + ac_table),
            _segment(0xDA, scan),
            data,
            b"\xff\xd9",
        )
    )
