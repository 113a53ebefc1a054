"""Just enough of the Yjs v1 update format to tell whether a document lacks updates.

A Yjs document silently parks structs whose dependencies it has not seen ("pending
structs"): content after a hole in the log never shows. To notice, a client collects
the clock ranges the updates it applied carry (:func:`update_ranges`) and compares
them with the document's state vector (:func:`missing_clients`). The format is
Yjs' ``writeStructs``/``readClientsStructRefs`` (lib0 var-uint encoding).
"""

from __future__ import annotations

_BITS5 = 0x1F
_BIT6 = 0x20
_BIT7 = 0x40
_BIT8 = 0x80


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
            if shift > 70:
                raise ValueError("var-uint too long")

    def varint(self) -> None:  # signed var-int: the value is not needed
        byte = self.byte()
        while byte & 0x80:
            byte = self.byte()

    def skip(self, count: int) -> None:
        if self.pos + count > len(self.data):
            raise ValueError("truncated update")
        self.pos += count

    def string(self) -> str:
        length = self.uint()
        start = self.pos
        self.skip(length)
        return self.data[start : self.pos].decode("utf-8", errors="surrogatepass")

    def any(self) -> None:
        kind = self.byte()
        if kind in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if kind == 125:
            self.varint()
        elif kind == 124:
            self.skip(4)
        elif kind in (123, 122):
            self.skip(8)
        elif kind == 119:
            self.string()
        elif kind == 118:
            for _ in range(self.uint()):
                self.string()
                self.any()
        elif kind == 117:
            for _ in range(self.uint()):
                self.any()
        elif kind == 116:
            self.skip(self.uint())
        else:
            raise ValueError(f"unknown 'any' type {kind}")


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", errors="surrogatepass")) // 2


def _item_length(reader: _Reader, ref: int) -> int:
    """Read an item's content; return its length in clock units."""
    if ref == 1:  # deleted
        return reader.uint()
    if ref == 2:  # JSON
        count = reader.uint()
        for _ in range(count):
            reader.string()
        return count
    if ref == 3:  # binary
        reader.skip(reader.uint())
        return 1
    if ref == 4:  # string
        return _utf16_length(reader.string())
    if ref == 5:  # embed
        reader.string()
        return 1
    if ref == 6:  # format
        reader.string()
        reader.string()
        return 1
    if ref == 7:  # type
        type_ref = reader.uint()
        if type_ref in (3, 4):  # XmlElement, XmlHook: a name
            reader.string()
        return 1
    if ref == 8:  # any
        count = reader.uint()
        for _ in range(count):
            reader.any()
        return count
    if ref == 9:  # sub-document
        reader.string()
        reader.any()
        return 1
    raise ValueError(f"unknown content type {ref}")


def update_ranges(update: bytes) -> dict[int, int]:
    """The end clock, per client, of the structs a v1 update carries (skips excluded).

    Raises ValueError for input that is not a v1 update."""
    reader = _Reader(update)
    ends: dict[int, int] = {}
    try:
        for _ in range(reader.uint()):
            count = reader.uint()
            client = reader.uint()
            clock = reader.uint()
            for _ in range(count):
                info = reader.byte()
                ref = info & _BITS5
                if ref == 0:  # GC
                    length = reader.uint()
                elif ref == 10:  # skip: a gap the update does not fill
                    clock += reader.uint()
                    continue
                else:
                    if info & _BIT8:
                        reader.uint()
                        reader.uint()
                    if info & _BIT7:
                        reader.uint()
                        reader.uint()
                    if not info & (_BIT7 | _BIT8):
                        if reader.uint() == 1:
                            reader.string()
                        else:
                            reader.uint()
                            reader.uint()
                        if info & _BIT6:
                            reader.string()
                    length = _item_length(reader, ref)
                clock += length
                ends[client] = max(ends.get(client, 0), clock)
    except IndexError:
        raise ValueError("truncated update") from None
    return ends


def decode_state_vector(data: bytes) -> dict[int, int]:
    reader = _Reader(data)
    try:
        return {reader.uint(): reader.uint() for _ in range(reader.uint())}
    except IndexError:
        raise ValueError("truncated state vector") from None


def missing_clients(state_vector: bytes, expected: dict[int, int]) -> dict[int, int]:
    """Clients whose structs the document has not integrated: ``{client: clock it has}``."""
    have = decode_state_vector(state_vector)
    return {
        client: have.get(client, 0) for client, end in expected.items() if have.get(client, 0) < end
    }


def merge_ends(into: dict[int, int], ends: dict[int, int]) -> None:
    for client, end in ends.items():
        if end > into.get(client, 0):
            into[client] = end
