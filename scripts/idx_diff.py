#!/usr/bin/env python3
# idx_diff.py A.idx B.idx: how far two IDX image sets of the same size differ,
# per pixel (0-255) and per image; no packages needed.
import struct, sys

def read(path):
    b = open(path, 'rb').read()
    if b[:2] == b'\x1f\x8b':
        import gzip
        b = gzip.decompress(b)
    dims = b[3]
    shape = struct.unpack('>' + 'I' * dims, b[4:4 + 4 * dims])
    return b[4 + 4 * dims:], shape

a, sa = read(sys.argv[1])
b, sb = read(sys.argv[2])
if sa != sb:
    sys.exit(f"the sets differ in shape: {sa} against {sb}")
d = [abs(x - y) for x, y in zip(a, b)]
per = sa[1] * sa[2]
images = [sum(d[i * per:(i + 1) * per]) / per for i in range(sa[0])]
print(f"{sa[0]} images: mean |difference| {sum(d) / len(d):.3f} of 255, largest {max(d)}, "
      f"pixels off by more than 32: {100 * sum(x > 32 for x in d) / len(d):.4f}%, "
      f"images off by more than 5 on average: {sum(m > 5 for m in images)}")
