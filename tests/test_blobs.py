"""Blob segments on their own: a write that fails part-way must not shift later offsets."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_offsets_stay_true_after_a_write_that_failed_part_way(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel cut a write short and then refuse it (EFBIG), as a
    full disk would; run in a child so the limit cannot touch the test process."""
    script = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        from mailsink.store.sqlite.blobs import BlobSegments

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        blobs = BlobSegments(Path({str(tmp_path / "blobs")!r}))
        segment, [first] = blobs.append([[b"a" * 1000]])
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (5000, hard))
        try:
            blobs.append([[b"b" * 20000]])
        except OSError as error:
            print("failed:", error.errno)
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        again, [second] = blobs.append([[b"c" * 1000]])
        assert again == segment
        assert blobs.read(segment, first, 1000) == b"a" * 1000
        assert blobs.read(segment, second, 1000) == b"c" * 1000, (second, blobs.size(segment))
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["failed:", "27", "ok"]  # EFBIG, then a true offset
