"""Makes minilm-4k.bin and minilm-4k.tsv, the real-data fixture of the tree-AH recall test.

Source: ../shared/data/minilm-50k (all-MiniLM-L6-v2 sentence embeddings of WordNet / GCIDE
definitions, 384-d, unit norm; see its README). Seeded: the first 4,000 rows of a fixed
permutation of the 50,000 base rows, and the first 100 of a fixed permutation of the 2,000
queries. Vectors are stored as int8 with one float32 scale per row (value = int8 × scale),
1.6 MB in all; the test computes its own exact answers on the decoded vectors.

Layout of minilm-4k.bin, little-endian:
  b"MINILM8\\0", u32 dims, u32 base rows, u32 query rows,
  then for each base row and then each query row: f32 scale, dims × int8.
minilm-4k.tsv: one line per base row, `source<TAB>pos` (restrict namespaces for tests).

    python3 crates/neighbors/tests/data/make_minilm_subset.py [path/to/minilm-50k]
"""

import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
src = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parents[4] / "shared" / "data" / "minilm-50k"
rng = np.random.default_rng(20261122)
base = np.load(src / "base.f16.npy").astype(np.float32)
query = np.load(src / "query.f16.npy").astype(np.float32)
rows = np.sort(rng.permutation(len(base))[:4000])
qrows = np.sort(rng.permutation(len(query))[:100])
meta = (src / "meta_base.tsv").read_text().splitlines()
header = meta[0].split("\t")
si, pi = header.index("source"), header.index("pos")
meta = [line.split("\t") for line in meta[1:]]


def encode(m):
    out = bytearray()
    for v in m:
        scale = float(np.abs(v).max()) / 127.0 or 1.0
        out += struct.pack("<f", scale)
        out += np.clip(np.round(v / scale), -127, 127).astype(np.int8).tobytes()
    return out


blob = b"MINILM8\0" + struct.pack("<III", base.shape[1], len(rows), len(qrows))
blob += encode(base[rows]) + encode(query[qrows])
(HERE / "minilm-4k.bin").write_bytes(blob)
(HERE / "minilm-4k.tsv").write_text("".join(f"{meta[r][si]}\t{meta[r][pi]}\n" for r in rows))
print(f"wrote {len(blob)} bytes")
